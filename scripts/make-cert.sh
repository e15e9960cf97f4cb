#!/usr/bin/env bash
# A self-signed certificate for the gateway, so a watch on the same network gets the
# page over HTTPS (browsers give a page the microphone only in a secure context).
# Names this machine's host name and every IPv4 address it has; the watch's browser
# asks once to trust it. Usage: scripts/make-cert.sh [DIR] (default: ./certs).
set -euo pipefail
dir=${1:-certs}
mkdir -p "$dir"
names="DNS:localhost,DNS:$(hostname),IP:127.0.0.1"
for ip in $(hostname -I 2>/dev/null || true); do
  case "$ip" in *:*) ;; *) names="$names,IP:$ip" ;; esac
done
openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
  -keyout "$dir/gateway.key" -out "$dir/gateway.crt" \
  -subj "/CN=Uhrwerk gateway" -addext "subjectAltName=$names" 2>/dev/null
chmod 600 "$dir/gateway.key"
echo "certificate for $names"
echo "run with: GATEWAY_TLS_CERT=$dir/gateway.crt GATEWAY_TLS_KEY=$dir/gateway.key make run"
