"""Prometheus metrics and the health endpoints every service serves.

Each process has one set of metrics (prometheus-client's default registry); the
gateway serves them on its own port next to /ws, a worker on METRICS_PORT through
`start_server`. `/healthz` says the process is alive (it answers), `/readyz` that it
can do its work: its broker connection is up and its backend loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from shared.logging import get_logger

log = get_logger(__name__)

# Seconds: a clock answer takes milliseconds, a local model several seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# Every stage worker (shared.worker)
TURNS = Counter(
    "uhrwerk_turns",
    "Deliveries a stage finished, by outcome: ok, no_speech, failed, expired, duplicate, "
    "malformed.",
    ["stage", "outcome"],
)
STAGE_SECONDS = Histogram(
    "uhrwerk_stage_seconds",
    "Time a stage spent on a turn, from delivery to its last event published.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("uhrwerk_turns_in_flight", "Deliveries a stage is working on now.", ["stage"])
REDELIVERIES = Counter(
    "uhrwerk_redeliveries",
    "Deliveries the broker marked as redelivered (a consumer died or lost its channel).",
    ["stage"],
)
DEAD_LETTERED = Counter(
    "uhrwerk_dead_lettered",
    "Inputs a stage put into its dead-letter queue, by error code.",
    ["stage", "reason"],
)
# Backend calls (shared.retry): each attempt counts.
BACKEND_CALLS = Counter(
    "uhrwerk_backend_calls", "Attempts at a backend call (retries count).", ["backend"]
)
BACKEND_ERRORS = Counter(
    "uhrwerk_backend_errors",
    "Failed attempts at a backend call, by category: transient, permanent.",
    ["backend", "category"],
)
# Conversation memory (shared.history), wherever it is used.
HISTORY_OPERATIONS = Counter(
    "uhrwerk_history_operations",
    "Operations on the conversation memory in Redis, by outcome: ok, error.",
    ["operation", "outcome"],
)
# The gateway
WATCHES = Gauge("uhrwerk_watches_connected", "Open watch WebSockets on this gateway.")
GATEWAY_TURNS = Counter(
    "uhrwerk_gateway_turns",
    "Turns the gateway ended, by outcome: delivered, failed, timeout, unpublished.",
    ["outcome"],
)
FIRST_AUDIO_SECONDS = Histogram(
    "uhrwerk_first_audio_seconds",
    "From accepting a turn to sending its first sentence's audio (protocol 2).",
    buckets=LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "uhrwerk_queue_depth",
    "Ready messages in a stage's work queue, as the gateway last read them.",
    ["stage"],
)


Readiness = Callable[[], dict[str, bool]]
"""What a service checks for /readyz, by name (`broker`, `backend`): ready if all hold."""


async def metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


def readyz(readiness: Readiness) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_: web.Request) -> web.Response:
        checks = readiness()
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not_ready", **checks}
        return web.json_response(body, status=200 if ready else 503)

    return handler


def health_app(readiness: Readiness) -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(readiness))
    return app


async def start_server(host: str, port: int, readiness: Readiness) -> web.AppRunner | None:
    """Serve /metrics, /healthz and /readyz on host:port; None when port is 0 or taken
    (logged: a worker without metrics still does its work)."""
    if port == 0:
        return None
    runner = web.AppRunner(health_app(readiness), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        log.error("metrics server could not start", host=host, port=port, error=str(exc))
        await runner.cleanup()
        return None
    log.info("metrics server ready", host=host, port=port)
    return runner
