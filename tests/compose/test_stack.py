"""End to end against the compose stack that `make compose-up` started (podman here,
Docker elsewhere): `make compose-test`. The stack runs the offline default, so these
are real answers from the packaged models, reached through the published port.

Deselected from `make test` (pyproject's addopts: not compose); they need
UHRWERK_COMPOSE_URL and UHRWERK_TOKEN, which scripts/compose/stack.sh sets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.audio import mp3_duration
from tests.speech import spoken_webm

pytestmark = pytest.mark.compose

URL = os.environ.get("UHRWERK_COMPOSE_URL", "")
TOKEN = os.environ.get("UHRWERK_TOKEN", "")
STACK = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "compose", "stack.sh")
TURN_S = 120.0
"""Generous: the offline models on two cores, several turns queued behind each other."""


@pytest.fixture(autouse=True)
def needs_stack() -> None:
    if not URL or not TOKEN:
        pytest.fail("UHRWERK_COMPOSE_URL and UHRWERK_TOKEN unset: run `make compose-test`")


def url(**query: str) -> str:
    return URL + "?" + "&".join(f"{k}={v}" for k, v in {"token": TOKEN, **query}.items())


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=TURN_S)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    return frame


async def ask(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send_str(json.dumps(frame))
    return await receive_json(ws)


def spoken(text: str) -> dict[str, Any]:
    clip = spoken_webm(text, "de-DE")
    return {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}


async def test_typed_question_gets_the_clock_in_the_seed_protocol() -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url()) as ws:
        reply = await ask(ws, {"type": "text", "message": "Wie spät ist es?"})
    assert "error" not in reply, reply
    assert re.search(r"\d|Uhr", reply["text_response"]), reply["text_response"]
    assert mp3_duration(base64.b64decode(reply["audio_base64"])) > 0.5


async def test_spoken_question_is_heard_and_answered() -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url()) as ws:
        reply = await ask(ws, spoken("Was ist die Hauptstadt von Frankreich?"))
    assert "error" not in reply, reply
    assert "frankreich" in reply["transcript"].lower(), reply
    assert "paris" in reply["text_response"].lower(), reply
    assert mp3_duration(base64.b64decode(reply["audio_base64"])) > 0.5


async def test_memory_survives_a_reconnect() -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url()) as ws:
            hello = await ask(ws, {"type": "hello"})
            session_id = hello["session_id"]
            first = await ask(
                ws, {"type": "text", "message": "Ich heiße Amelie. Merk dir das bitte."}
            )
            assert "error" not in first, first
        async with session.ws_connect(url(session=session_id)) as ws:
            second = await ask(ws, {"type": "text", "message": "Wie heiße ich?"})
    assert "amelie" in second["text_response"].lower(), second


async def test_protocol_2_streams_sentences_with_their_audio() -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url(protocol="2")) as ws:
        await ws.send_str(
            json.dumps(
                {"type": "text", "message": "Erzähl mir in zwei Sätzen etwas über den Mond."}
            )
        )
        turn = await receive_json(ws)
        assert turn["type"] == "turn", turn
        sentences: list[str] = []
        while True:
            frame = await receive_json(ws)
            if frame["type"] == "done":
                break
            assert frame["type"] == "sentence", frame
            assert frame["seq"] == len(sentences)
            audio = await ws.receive(timeout=TURN_S)
            assert audio.type is aiohttp.WSMsgType.BINARY
            assert mp3_duration(audio.data) > 0.2
            sentences.append(frame["text"])
    assert sentences, "no sentence before done"
    assert frame["text_response"] == " ".join(sentences) or all(
        s in frame["text_response"] for s in sentences
    )
    assert frame["timings"]["first_audio"] <= frame["timings"]["total"]


def compose(*args: str) -> str:
    return subprocess.run(
        [STACK, *args], check=True, capture_output=True, text=True, timeout=600
    ).stdout


def container_pid(name: str) -> int:
    inspect = ["podman", "inspect", "--format", "{{.State.Pid}}", name]
    return int(subprocess.run(inspect, check=True, capture_output=True, text=True).stdout)


def replicas(service: str) -> list[str]:
    """The running containers of `service` in the stack's compose project."""
    project = os.environ.get("COMPOSE_PROJECT", "uhrwerk")
    labels = [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]
    command = ["podman", "ps", "--format", "{{.Names}}"]
    for label in labels:
        command += ["--filter", f"label={label}"]
    listed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return sorted(listed.split())


SCRAPE = (
    "import sys, urllib.request; "
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"
)
"""Run inside a worker's container: its metrics port is not published to the host."""


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus exposition text → {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def worker_metrics(name: str, port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = f"http://127.0.0.1:{port}/metrics"
    command = ["podman", "exec", name, "python", "-c", SCRAPE, url]
    return samples(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def stt_counts(skip: frozenset[str] = frozenset()) -> dict[str, dict[str, float]]:
    """Per stt replica but those in `skip`, from its own /metrics: turns finished ok
    and redeliveries seen."""
    counts: dict[str, dict[str, float]] = {}
    for name in replicas("stt_worker"):
        if name in skip:
            continue
        metrics = worker_metrics(name, 9101)
        ok = frozenset({("stage", "stt"), ("outcome", "ok")})
        counts[name] = {
            "ok": metrics.get(("uhrwerk_turns_total", ok), 0.0),
            "redelivered": metrics.get(
                ("uhrwerk_redeliveries_total", frozenset({("stage", "stt")})), 0.0
            ),
        }
    return counts


async def gateway_metrics() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The gateway's /metrics through the published port, as an operator scrapes it."""
    metrics_url = URL.replace("ws://", "http://").removesuffix("/ws") + "/metrics"
    async with aiohttp.ClientSession() as session, session.get(metrics_url) as response:
        assert response.status == 200, response.status
        return samples(await response.text())


DELIVERED = ("uhrwerk_gateway_turns_total", frozenset({("outcome", "delivered")}))


async def burst(clips: list[dict[str, Any]], count: int) -> list[asyncio.Task[dict[str, Any]]]:
    async def one(i: int) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(url()) as ws:
            return await ask(ws, clips[i % len(clips)])

    return [asyncio.create_task(one(i)) for i in range(count)]


async def test_three_stt_replicas_share_a_burst_and_a_killed_one_loses_nothing() -> None:
    await asyncio.to_thread(compose, "scale", "stt_worker", "3")
    try:
        questions = ["Wie spät ist es?", "Welcher Tag ist heute?", "Wie viel ist zwei plus drei?"]
        clips = [spoken(q) for q in questions]
        # 6 at once: two for each replica (a local model's prefetch is its one running
        # turn plus one), under the cap of 10 connections per identity (one token).
        gateway_before = await gateway_metrics()
        before = await asyncio.to_thread(stt_counts)
        assert len(before) == 3, before
        shared = await asyncio.gather(*await burst(clips, 6))
        spread = await asyncio.to_thread(stt_counts)

        # Then a burst during which one replica is SIGKILLed, from outside, as a crash
        # or the OOM killer would (`podman kill` counts as a stop by hand, after which
        # `restart: unless-stopped` does not restart it).
        running = await burst(clips, 6)
        await asyncio.sleep(1.0)
        victim = sorted(spread)[0]
        os.kill(await asyncio.to_thread(container_pid, victim), signal.SIGKILL)
        started = time.monotonic()
        survived = await asyncio.gather(*running)
        # Not the victim: `restart: unless-stopped` may be starting it again right now,
        # listed by `podman ps` before its metrics port is up (seen in CI).
        after = await asyncio.to_thread(stt_counts, frozenset({victim}))
        gateway_after = await gateway_metrics()
    finally:
        await asyncio.to_thread(compose, "scale", "stt_worker", "1")
    for replies in (shared, survived):
        assert all("error" not in r for r in replies), [r for r in replies if "error" in r]
        assert all(r["transcript"] for r in replies)
    # The first burst was spread over all three, each replica's own counter says so.
    served = {name: spread[name]["ok"] - before[name]["ok"] for name in before}
    assert all(n > 0 for n in served.values()), served
    assert sum(served.values()) == 6, served
    # Every turn of both bursts was delivered, as the gateway counts them.
    assert gateway_after[DELIVERED] - gateway_before[DELIVERED] == 12
    survivors = {name: after[name]["ok"] - spread[name]["ok"] for name in after}
    print(
        f"first burst per replica {served}; second burst survivors {survivors}, "
        f"redelivered {sum(counts['redelivered'] for counts in after.values())}"
    )
    assert time.monotonic() - started < TURN_S
