#!/usr/bin/env bash
# Debian packages the offline backends need: pico2wave (German TTS, in the non-free
# component, which this enables), espeak-ng (other languages), and a compiler with
# cmake for building llama-cpp-python, and Chromium for the watch page's browser tests
# (these left out with --runtime, as in the image's final stage). Idempotent: does
# nothing when all are present.
set -euo pipefail

need=()
command -v pico2wave >/dev/null 2>&1 || need+=(libttspico-utils)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ "${1:-}" != "--runtime" ]; then
  command -v cmake >/dev/null 2>&1 || need+=(cmake)
  command -v g++ >/dev/null 2>&1 || need+=(g++)
  command -v make >/dev/null 2>&1 || need+=(make)
  # Debian's own build (Playwright drives it; its browser download is never used).
  # INSTALL_CHROMIUM=0 leaves it out (a build stage that only compiles).
  if [ "${INSTALL_CHROMIUM:-1}" != 0 ]; then
    [ -x /usr/bin/chromium ] || need+=(chromium)
  fi
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo "$0" "$@"; fi
  echo "install-system: need root to install: ${need[*]} (run: sudo $0)" >&2
  exit 1
fi

echo "==> installing Debian packages: ${need[*]}"
if [[ " ${need[*]} " == *" libttspico-utils "* ]]; then
  # pico2wave lives in non-free: add the component to the main archive's entries.
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ] && ! grep -q "non-free" "$src"; then
    awk '/^URIs:.*debian-security/ {sec=1} /^URIs:/ && !/debian-security/ {sec=0}
         /^Components:/ && !sec && !/non-free/ {$0=$0" non-free"} {print}' "$src" > "$src.new"
    mv "$src.new" "$src"
  fi
  if [ -f /etc/apt/sources.list ] && grep -qE "^deb .* main" /etc/apt/sources.list \
      && ! grep -q "non-free" /etc/apt/sources.list; then
    sed -i -E '/^deb .*debian(\/| ).* main/ s/ main( |$)/ main non-free\1/' /etc/apt/sources.list
  fi
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
