#!/usr/bin/env bash
# The compose stack, built and run here without Docker and without a registry:
#   stack.sh up      build what is missing, start everything, wait until it is healthy
#   stack.sh test    the end-to-end tests (tests/compose) against the running stack
#   stack.sh down    stop it and remove what `up` made (containers, network, volumes)
#   stack.sh scale SERVICE N   run N replicas of a worker
# How: a Debian base image made with debootstrap (cached by its package list), the
# services' image FROM it with Python packages from a host-built wheelhouse, RabbitMQ
# and Redis images from Debian's packages; docker-compose 1.29 drives podman through
# its Docker-compatible socket (it honours --scale and depends_on conditions, which
# podman-compose 1.0 ignores). Without systemd nothing runs healthchecks, so a poller
# here runs `podman healthcheck run` for every container.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

PROJECT=${COMPOSE_PROJECT:-uhrwerk}
CACHE=${UHRWERK_COMPOSE_CACHE:-$ROOT/.cache/compose}
SOCKET=${PODMAN_SOCKET:-/run/uhrwerk-podman.sock}
BASE_PACKAGES="python3,python3-venv,ca-certificates,libttspico-utils,espeak-ng,libgomp1"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_TAG="bookworm-$(echo "$BASE_PACKAGES" | sha256sum | cut -c1-12)"
export BASE_IMAGE="localhost/uhrwerk-base:$BASE_TAG"
export CONTAINERS_CONF="$ROOT/scripts/compose/containers.conf"
export DOCKER_HOST="unix://$SOCKET"
export UHRWERK_MODELS=${UHRWERK_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/uhrwerk/models}
export GATEWAY_ADDRESS=${GATEWAY_ADDRESS:-127.0.0.1}
export GATEWAY_PORT=${GATEWAY_PORT:-8080}
TOKEN_FILE="$CACHE/auth-token"
COMPOSE=(docker-compose -p "$PROJECT" -f docker-compose.yml -f scripts/compose/compose.local.yml)

say() { echo "==> $*"; }
stamp() { date +%s; }

tools() {
  local need=()
  command -v podman >/dev/null || need+=(podman)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v docker-compose >/dev/null || need+=(docker-compose)
  command -v runc >/dev/null || need+=(runc)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

service() {
  if ! curl -s --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; then
    say "podman's Docker-compatible socket at $SOCKET"
    mkdir -p "$CACHE"
    nohup podman system service --time=0 "unix://$SOCKET" >"$CACHE/podman-service.log" 2>&1 &
    for _ in $(seq 1 50); do
      curl -s --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1 && return 0
      sleep 0.2
    done
    echo "podman system service did not come up: $CACHE/podman-service.log" >&2
    exit 1
  fi
}

base_image() {
  if podman image exists "$BASE_IMAGE"; then return 0; fi
  say "base image $BASE_IMAGE: debootstrap bookworm (minbase) from $MIRROR"
  local rootfs="$CACHE/rootfs"
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  debootstrap --variant=minbase --components=main,non-free --include="$BASE_PACKAGES" \
    bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | podman import --quiet - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

wheelhouse() {
  # The project's own wheel is rebuilt every time (it is the code); the rest come from
  # the wheelhouse itself or pip's cache after the first time. async-timeout: redis
  # needs it below Python 3.11.3 (Debian's is 3.11.2), a marker the host's pip skips.
  say "wheelhouse (the project and its runtime packages, llama-cpp-python from make install)"
  local context="$CACHE/context"
  mkdir -p "$context/wheelhouse"
  rm -f "$context"/wheelhouse/uhrwerk-*.whl
  .venv/bin/pip wheel --quiet --disable-pip-version-check \
    --find-links "${XDG_CACHE_HOME:-$HOME/.cache}/uhrwerk/wheels/llama-cpp-python-portable" \
    --find-links "$context/wheelhouse" -w "$context/wheelhouse" ".[engines]" \
    "async-timeout>=4.0.3" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  cp scripts/compose/Containerfile "$context/Containerfile"
}

images() {
  say "images (podman build; layers cached)"
  podman build --quiet --build-arg BASE_IMAGE="$BASE_IMAGE" -t localhost/uhrwerk-rabbitmq:local \
    scripts/compose/rabbitmq >/dev/null
  podman build --quiet --build-arg BASE_IMAGE="$BASE_IMAGE" -t localhost/uhrwerk-redis:local \
    scripts/compose/redis >/dev/null
  local wheels="$CACHE/context/wheelhouse" deps code
  deps=$(ls "$wheels" | grep -v '^uhrwerk-' | sort | sha256sum | cut -c1-16)
  code=$(cat "$wheels"/uhrwerk-*.whl | sha256sum | cut -c1-16)
  podman build --quiet --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg DEPS_HASH="$deps" \
    --build-arg CODE_HASH="$code" -t localhost/uhrwerk:local "$CACHE/context" >/dev/null
  podman image prune --force >/dev/null  # the untagged images earlier builds left
}

token() {
  mkdir -p "$CACHE"
  [ -s "$TOKEN_FILE" ] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' >"$TOKEN_FILE"
  AUTH_TOKEN=$(cat "$TOKEN_FILE")
  export AUTH_TOKEN
}

poll_health() {
  # Runs the containers' healthchecks until the stack is stopped (no systemd timers).
  while [ -e "$CACHE/poller.on" ]; do
    for id in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
      podman healthcheck run "$id" >/dev/null 2>&1 || true
    done
    sleep 2
  done
}

start_poller() {
  touch "$CACHE/poller.on"
  if [ -s "$CACHE/poller.pid" ] && kill -0 "$(cat "$CACHE/poller.pid")" 2>/dev/null; then return; fi
  poll_health >/dev/null 2>&1 &
  echo $! >"$CACHE/poller.pid"
  disown || true
}

wait_ready() {
  local deadline=$(( $(stamp) + ${1:-300} ))
  say "waiting for every service (healthchecks, and the workers' 'worker ready')"
  while [ "$(stamp)" -lt "$deadline" ]; do
    local waiting=()
    for id in $(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT"); do
      local name health state
      name=$(podman inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")
      state=$(podman inspect -f '{{.State.Status}}' "$id")
      health=$(podman inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || echo "")
      if [ "$state" != running ]; then waiting+=("$name:$state"); continue; fi
      case "$name" in
        *_worker)
          # Ready once this incarnation said so: logs span restarts. (grep -c reads to
          # the end; grep -q would stop early and pipefail would count podman's SIGPIPE.)
          local readies restarts
          readies=$(podman logs "$id" 2>&1 | grep -c '"worker ready"' || true)
          restarts=$(podman inspect -f '{{.RestartCount}}' "$id")
          [ "$readies" -gt "$restarts" ] || waiting+=("$name:loading") ;;
        *) [ "$health" = healthy ] || waiting+=("$name:${health:-starting}") ;;
      esac
    done
    if [ ${#waiting[@]} -eq 0 ] && [ -n "$(podman ps -q --filter "label=com.docker.compose.project=$PROJECT")" ]; then
      return 0
    fi
    sleep 2
  done
  echo "not ready in time: ${waiting[*]}" >&2
  "${COMPOSE[@]}" ps >&2 || true
  return 1
}

up() {
  local t0; t0=$(stamp)
  tools
  [ -x .venv/bin/pip ] || make install
  [ -d "$UHRWERK_MODELS/whisper-base-ct2-int8" ] || { echo "no models at $UHRWERK_MODELS: run make install" >&2; exit 1; }
  service
  base_image
  wheelhouse
  images
  token
  start_poller
  say "starting the stack (project $PROJECT)"
  # --force-recreate: the image tag stays the same when the code changes, and
  # docker-compose on podman's API does not notice a new image behind it.
  "${COMPOSE[@]}" up -d --no-build --force-recreate "$@"
  wait_ready 600
  say "ready after $(( $(stamp) - t0 )) s"
  echo "    watch page: http://$GATEWAY_ADDRESS:$GATEWAY_PORT/?token=$AUTH_TOKEN"
  echo "    ask:        UHRWERK_TOKEN=\$(cat $TOKEN_FILE) .venv/bin/uhrwerk ask --url ws://$GATEWAY_ADDRESS:$GATEWAY_PORT/ws 'Wie spät ist es?'"
  echo "    scale:      scripts/compose/stack.sh scale stt_worker 3"
  echo "    stop:       make compose-down"
}

scale() {
  service
  token
  start_poller
  "${COMPOSE[@]}" up -d --no-build --no-recreate --scale "$1=$2"
  wait_ready 300
}

down() {
  rm -f "$CACHE/poller.on"
  if curl -s --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; then
    token
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 20 || true
  fi
  if [ -s "$CACHE/poller.pid" ]; then kill "$(cat "$CACHE/poller.pid")" 2>/dev/null || true; fi
  rm -f "$CACHE/poller.pid"
}

run_tests() {
  token
  UHRWERK_COMPOSE_URL="ws://$GATEWAY_ADDRESS:$GATEWAY_PORT/ws" UHRWERK_TOKEN="$AUTH_TOKEN" \
  COMPOSE_PROJECT="$PROJECT" DOCKER_HOST="$DOCKER_HOST" \
    .venv/bin/pytest -m compose tests/compose "$@"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  test) shift; run_tests "$@" ;;
  scale) scale "$2" "$3" ;;
  *) echo "usage: $0 up|down|test|scale SERVICE N" >&2; exit 2 ;;
esac
