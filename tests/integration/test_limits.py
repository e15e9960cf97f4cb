"""The gateway's limits against real processes: questions per minute, connections per
identity, per address and per gateway, idle connections, backpressure from deep work
queues, and the sizes of what a watch sends."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.audio import webm_opus
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.conftest import delete_topology
from tests.integration.stack import Stack, ws_url
from tests.integration.test_pipeline import ask, assert_silent, receive

pytestmark = [pytest.mark.broker, pytest.mark.integration]

TRY_AGAIN_LATER = 1013
IDLE_CLOSE = 4408


def gateway(stack: Stack, name: str, **env: str) -> int:
    _, port = stack.start_gateway(name, GATEWAY_ID=name, REPLY_QUEUE_EXPIRES_S="10", **env)
    return port


def healthz(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def hello(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return await ask(ws, {"type": "hello"})


async def assert_refused(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The refusal: one error frame the page can show, then close 1013."""
    refusal = await receive(ws, timeout=5)
    closing = await ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    assert ws.close_code == TRY_AGAIN_LATER
    return refusal


async def test_questions_over_the_rate_get_rate_limited_with_retry_after_then_pass(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    port = gateway(stack, "ratelimit", QUESTIONS_PER_MINUTE="30", QUESTION_BURST="2")
    async with (
        http.ws_connect(ws_url(port)) as one,
        http.ws_connect(ws_url(port, protocol="2")) as two,
    ):
        for i in range(2):  # the burst
            reply = await ask(one, {"type": "text", "message": f"Frage {i}"})
            assert reply["text_response"].startswith(f"Du sagtest: Frage {i}")
        limited = await ask(one, {"type": "text", "message": "Noch eine"})
        assert limited["code"] == "rate_limited"
        # One question per 2 s: the bucket has refilled by the time the two took.
        wait = limited["retry_after"]
        assert wait in (1, 2)
        unit = "Sekunde" if wait == 1 else "Sekunden"
        assert limited["error"] == f"Zu viele Fragen in kurzer Zeit. Bitte warte {wait} {unit}."
        # The limit is the identity's, not the connection's: the other socket too.
        other = await ask(two, {"type": "text", "message": "Und hier?"})
        assert other["type"] == "error" and other["code"] == "rate_limited"
        assert 1 <= other["retry_after"] <= 2
        # A spoken question is held to the same rate.
        clip = base64.b64encode(webm_opus("Hallo", seconds=1.0)).decode()
        spoken = await ask(one, {"type": "audio", "data": clip, "format": "webm"})
        assert spoken["code"] == "rate_limited"
        await asyncio.sleep(wait)
        reply = await ask(one, {"type": "text", "message": "Jetzt wieder?"})
        assert reply["text_response"].startswith("Du sagtest: Jetzt wieder?")
        again = await ask(one, {"type": "text", "message": "Und gleich noch?"})
        assert again["code"] == "rate_limited"


async def test_connections_per_identity_are_capped(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    port = gateway(stack, "peridentity", MAX_CONNECTIONS_PER_IDENTITY="2")
    async with AsyncExitStack() as sockets:
        first = await sockets.enter_async_context(http.ws_connect(ws_url(port)))
        second = await sockets.enter_async_context(http.ws_connect(ws_url(port, protocol="2")))
        assert (await hello(first))["type"] == "hello"
        assert (await hello(second))["type"] == "hello"
        async with http.ws_connect(ws_url(port, protocol="2")) as third:
            refusal = await assert_refused(third)
        assert refusal == {
            "type": "error",
            "error": "Zu viele offene Verbindungen. Bitte schließe andere Fenster mit Uhrwerk.",
            "code": "too_many_connections",
        }
        assert healthz(port)["connections"] == 2  # the refused one is not counted
        await first.close()
        await asyncio.sleep(0.2)
        async with http.ws_connect(ws_url(port)) as fourth:
            assert (await hello(fourth))["type"] == "hello"
            reply = await ask(fourth, {"type": "text", "message": "Darf ich?"})
            assert reply["text_response"].startswith("Du sagtest: Darf ich?")
        await assert_silent(second, 0.2)  # the others were left alone


async def test_connections_per_address_count_sockets_not_yet_paired(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    port = gateway(stack, "peraddress", MAX_CONNECTIONS_PER_ADDRESS="2")
    bare = f"ws://127.0.0.1:{port}/ws"  # no token: paired by a hello still to come
    async with AsyncExitStack() as sockets:
        for _ in range(2):
            await sockets.enter_async_context(http.ws_connect(bare))
        async with http.ws_connect(ws_url(port)) as third:
            assert (await assert_refused(third))["code"] == "too_many_connections"
        assert healthz(port)["connections"] == 2
    await asyncio.sleep(0.3)
    async with http.ws_connect(ws_url(port)) as later:
        assert (await hello(later))["type"] == "hello"


async def test_the_gateway_holds_at_most_max_connections(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    port = gateway(stack, "gatewaycap", MAX_CONNECTIONS="3")
    async with AsyncExitStack() as sockets:
        open_ = [await sockets.enter_async_context(http.ws_connect(ws_url(port))) for _ in range(3)]
        for ws in open_:
            assert (await hello(ws))["type"] == "hello"
        async with http.ws_connect(ws_url(port)) as fourth:
            refusal = await assert_refused(fourth)
        assert "type" not in refusal  # protocol 1's shape for a protocol 1 socket
        assert refusal["code"] == "too_many_connections"
        reply = await ask(open_[0], {"type": "text", "message": "Alles gut?"})
        assert reply["text_response"].startswith("Du sagtest: Alles gut?")


async def keep_talking(ws: aiohttp.ClientWebSocketResponse, every_s: float) -> None:
    while True:
        await ws.send_str(json.dumps({"type": "hello"}))
        assert (await receive(ws))["type"] == "hello"
        await asyncio.sleep(every_s)


async def test_idle_connections_are_closed_but_not_while_talking_or_waiting(
    stack: Stack, http: aiohttp.ClientSession, gemini_fake: FakeGemini
) -> None:
    port = gateway(stack, "idle", IDLE_TIMEOUT_S="1")
    async with (
        http.ws_connect(ws_url(port, protocol="2")) as quiet,
        http.ws_connect(ws_url(port, protocol="2")) as chatty,
        http.ws_connect(ws_url(port)) as waiting,
    ):
        talking = asyncio.create_task(keep_talking(chatty, 0.3))
        assert (await hello(quiet))["type"] == "hello"
        said_hello = time.monotonic()
        gemini_fake.delay_s = 2.5  # an answer that takes longer than the idle timeout
        await waiting.send_str(json.dumps({"type": "text", "message": "Dauert das?"}))
        closing = await quiet.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
        assert quiet.close_code == IDLE_CLOSE
        assert 1.0 <= time.monotonic() - said_hello < 2.0
        reply = await receive(waiting, timeout=10)
        assert reply["text_response"].startswith("Du sagtest: Dauert das?")
        answered = time.monotonic()
        # Silent for longer than the timeout, but its idle time starts with the answer.
        closing = await waiting.receive(timeout=5)
        assert waiting.close_code == IDLE_CLOSE
        assert 1.0 <= time.monotonic() - answered < 2.0
        assert not talking.done() and not chatty.closed  # frames every 0.3 s keep it open
        talking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talking
    events = stack.services["idle"].log_events()
    assert [e.get("event") for e in events].count("idle connection closed") == 2


async def test_audio_bytes_and_seconds_and_text_length_are_limited(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    port = gateway(
        stack,
        "sizes",
        MAX_TEXT_CHARS="20",
        MAX_AUDIO_SECONDS="1",
        MAX_AUDIO_BYTES="20000",  # the test clips take about 10.5 kB per second
    )

    def audio(clip: bytes) -> dict[str, str]:
        return {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}

    short = webm_opus("Hallo", seconds=0.8)
    padded = short + bytes(25000 - len(short))  # a short recording, but 25 kB
    async with http.ws_connect(ws_url(port, protocol="2")) as ws:
        long_text = await ask(ws, {"type": "text", "message": "x" * 21})
        assert long_text["code"] == "text_too_long"
        assert long_text["error"] == "Der Text ist zu lang (höchstens 20 Zeichen)."
        too_long = await ask(ws, audio(webm_opus("Hallo", seconds=1.5)))
        assert too_long["code"] == "audio_too_long"
        big = await ask(ws, audio(padded))
        assert big["code"] == "too_large"
        assert big["error"] == "Die Aufnahme ist zu groß (höchstens 20 kB)."
        # Streamed: refused as soon as the chunks add up to more.
        await ws.send_str(json.dumps({"type": "audio_start", "format": "webm"}))
        await ws.send_bytes(padded[:12000])
        await assert_silent(ws, 0.3)
        await ws.send_bytes(padded[12000:])
        streamed = await receive(ws)
        assert streamed["code"] == "too_large" and streamed["error"] == big["error"]
        accepted = await ask(ws, audio(short))
        assert accepted == {"type": "turn", "turn_id": accepted["turn_id"]}


async def test_a_deep_work_queue_gets_overloaded_at_once_and_recovers(
    grpc_fake: FakeGoogleGrpc,
    gemini_fake: FakeGemini,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    # A pipeline of its own whose llm stage has no worker yet: its queue only grows.
    prefix = f"ov{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, grpc_fake, gemini_fake, tmp_path)
    try:
        port = gateway(stack, "overload", OVERLOAD_QUEUE_DEPTH="2", OVERLOAD_CHECK_S="0.2")
        async with http.ws_connect(ws_url(port)) as ws:
            for i in range(2):
                await ws.send_str(json.dumps({"type": "text", "message": f"Warte {i}"}))
            deadline = time.monotonic() + 5
            while healthz(port)["queue_depths"].get("llm") != 2:
                assert time.monotonic() < deadline, healthz(port)
                await asyncio.sleep(0.1)
            assert healthz(port)["overloaded"] is True
            started = time.monotonic()
            refused = await ask(ws, {"type": "text", "message": "Und ich?"})
            assert refused["code"] == "overloaded"
            assert refused["error"] == (
                "Uhrwerk ist gerade überlastet. Bitte versuche es in ein paar Sekunden noch einmal."
            )
            assert time.monotonic() - started < 0.5  # at once, not after TURN_TIMEOUT_S
            clip = base64.b64encode(webm_opus("Hallo", seconds=1.0)).decode()
            spoken = await ask(ws, {"type": "audio", "data": clip, "format": "webm"})
            assert spoken["code"] == "overloaded"  # its turn would pass the llm stage too
            for worker in ("llm_worker", "tts_worker"):
                stack.start_worker(worker)
            answers = [await receive(ws, timeout=20) for _ in range(2)]
            assert sorted(a["text_response"][:19] for a in answers) == [
                "Du sagtest: Warte 0",
                "Du sagtest: Warte 1",
            ]
            deadline = time.monotonic() + 5
            while healthz(port)["overloaded"]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            reply = await ask(ws, {"type": "text", "message": "Und jetzt?"})
            assert reply["text_response"].startswith("Du sagtest: Und jetzt?")
    finally:
        stack.stop_all()
        await delete_topology(prefix, [f"{prefix}.reply.overload"])
