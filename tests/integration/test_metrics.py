"""/metrics, /healthz and /readyz of every service, as real processes: turns move the
counters by what they did, readiness follows the broker."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.audio import webm_opus
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.conftest import delete_topology
from tests.integration.stack import WORKERS, Stack, free_port, ws_url

pytestmark = [pytest.mark.broker, pytest.mark.integration]

STAGE_OF = {"stt_worker": "stt", "llm_worker": "llm", "tts_worker": "tts"}


class Metered:
    """A stack whose services serve metrics: worker name (or "gateway") to its port."""

    def __init__(self, stack: Stack, ports: dict[str, int]) -> None:
        self.stack = stack
        self.ports = ports


@pytest.fixture(scope="module")
def metered(
    grpc_fake: FakeGoogleGrpc, gemini_fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Metered]:
    prefix = f"mt{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, grpc_fake, gemini_fake, tmp_path_factory.mktemp("logs"))
    stack.env["METRICS_HOST"] = "127.0.0.1"
    ports: dict[str, int] = {}
    try:
        for worker in WORKERS:
            ports[worker] = free_port()
            stack.start_worker(worker, METRICS_PORT=str(ports[worker]))
        _, ports["gateway"] = stack.start_gateway("gw", GATEWAY_ID="metrics")
        yield Metered(stack, ports)
    finally:
        stack.stop_all()
        asyncio.run(delete_topology(prefix, [f"{prefix}.reply.metrics"]))


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, text = get(port, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def turn(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, str]) -> list[Any]:
    """Send one question (protocol 2); its frames up to `done` or `error`."""
    await ws.send_str(json.dumps(frame))
    frames: list[Any] = []
    while True:
        message = await ws.receive(timeout=20)
        if message.type is aiohttp.WSMsgType.BINARY:
            frames.append(bytes(message.data))
            continue
        got = json.loads(message.data)
        frames.append(got)
        if got.get("type") in ("done", "error"):
            return frames


def sentences(frames: list[Any]) -> int:
    return sum(1 for f in frames if isinstance(f, dict) and f.get("type") == "sentence")


async def settled(
    ports: dict[str, int],
) -> dict[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """Every service's metrics once no worker has a delivery in flight: a stage counts
    a turn after its last event is confirmed, which may be just after the watch has
    its `done`."""
    deadline = time.monotonic() + 10
    while True:
        now = {name: scrape(port) for name, port in ports.items()}
        busy = [
            w
            for w, stage in STAGE_OF.items()
            if value(now[w], "uhrwerk_turns_in_flight", stage=stage)
        ]
        if not busy or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.05)


async def test_turns_move_every_services_counters(metered: Metered) -> None:
    ports = metered.ports
    before = {name: scrape(port) for name, port in ports.items()}
    clip = webm_opus("Wie wird das Wetter morgen", seconds=2.0)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(ports["gateway"], protocol="2")) as ws,
    ):
        spoken = 0
        for question in ("Erzähl mir von Rom.", "Und von Paris?"):
            frames = await turn(ws, {"type": "text", "message": question})
            assert frames[-1]["type"] == "done", frames[-1]
            spoken += sentences(frames)
        frames = await turn(
            ws, {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}
        )
        assert frames[-1]["type"] == "done", frames[-1]
        spoken += sentences(frames)
        gateway_open = scrape(ports["gateway"])
    after = await settled(ports)

    def moved(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, **labels) - value(before[service], name, **labels)

    expected_turns = {"stt_worker": 1, "llm_worker": 3, "tts_worker": spoken}
    for worker, turns in expected_turns.items():
        stage = STAGE_OF[worker]
        assert moved(worker, "uhrwerk_turns_total", stage=stage, outcome="ok") == turns, worker
        assert moved(worker, "uhrwerk_stage_seconds_count", stage=stage) == turns, worker
        assert value(after[worker], "uhrwerk_turns_in_flight", stage=stage) == 0
    assert moved("stt_worker", "uhrwerk_backend_calls_total", backend="google speech") == 1
    assert moved("llm_worker", "uhrwerk_backend_calls_total", backend="gemini") == 3
    assert moved("tts_worker", "uhrwerk_backend_calls_total", backend="google tts") == spoken
    for operation in ("load", "append"):
        assert (
            moved(
                "llm_worker", "uhrwerk_history_operations_total", operation=operation, outcome="ok"
            )
            == 3
        )
    assert moved("gateway", "uhrwerk_gateway_turns_total", outcome="delivered") == 3
    assert moved("gateway", "uhrwerk_first_audio_seconds_count") == 3
    assert value(gateway_open, "uhrwerk_watches_connected") == 1
    assert value(after["gateway"], "uhrwerk_watches_connected") == 0
    # The gateway reads the queue depths every OVERLOAD_CHECK_S: all empty by now.
    assert {
        dict(labels)["stage"]: v
        for (name, labels), v in after["gateway"].items()
        if name == "uhrwerk_queue_depth"
    } == {"stt": 0, "llm": 0, "tts": 0}


async def test_a_rejected_turn_is_counted_as_failed_and_dead_lettered(
    metered: Metered, gemini_fake: FakeGemini
) -> None:
    ports = metered.ports
    llm_before, gateway_before = scrape(ports["llm_worker"]), scrape(ports["gateway"])
    gemini_fake.failures.append(400)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(ports["gateway"], protocol="2")) as ws,
    ):
        frames = await turn(ws, {"type": "text", "message": "Verbotene Frage"})
    assert frames[-1]["code"] == "backend_rejected"
    llm, gateway = scrape(ports["llm_worker"]), scrape(ports["gateway"])

    def moved(
        now: dict[tuple[str, frozenset[tuple[str, str]]], float],
        then: dict[tuple[str, frozenset[tuple[str, str]]], float],
        name: str,
        **labels: str,
    ) -> float:
        return value(now, name, **labels) - value(then, name, **labels)

    assert moved(llm, llm_before, "uhrwerk_turns_total", stage="llm", outcome="failed") == 1
    assert moved(llm, llm_before, "uhrwerk_turns_total", stage="llm", outcome="ok") == 0
    dead = moved(
        llm, llm_before, "uhrwerk_dead_lettered_total", stage="llm", reason="backend_rejected"
    )
    assert dead == 1
    errors = moved(
        llm, llm_before, "uhrwerk_backend_errors_total", backend="gemini", category="permanent"
    )
    assert errors == 1
    assert moved(gateway, gateway_before, "uhrwerk_gateway_turns_total", outcome="failed") == 1


def test_every_service_is_alive_and_ready(metered: Metered) -> None:
    for name, port in metered.ports.items():
        assert get(port, "/healthz")[0] == 200, name
        status, body = get(port, "/readyz")
        assert status == 200, (name, body)
        assert json.loads(body)["broker"] is True


def test_a_worker_without_its_broker_is_alive_but_not_ready(metered: Metered) -> None:
    port = free_port()
    unreachable = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    service = metered.stack.start(
        "stt_worker", "stt_no_broker", AMQP_URL=unreachable, METRICS_PORT=str(port)
    )
    try:
        service.wait_for_log("broker unreachable, retrying")
        deadline = time.monotonic() + 10
        while get_or_none(port, "/healthz") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert get(port, "/healthz")[0] == 200
        status, body = get(port, "/readyz")
        assert status == 503
        assert json.loads(body) == {"status": "not_ready", "broker": False, "backend": True}
    finally:
        service.stop()


def get_or_none(port: int, path: str) -> int | None:
    try:
        return get(port, path)[0]
    except OSError:
        return None
