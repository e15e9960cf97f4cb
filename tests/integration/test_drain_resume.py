"""A gateway that stops drains, and a watch whose gateway died resumes its last turn
elsewhere: real processes, broker and Redis, the Google fakes made slow so turns are in
flight when the gateway goes."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import aiohttp
import pytest

from shared.redis_client import redis_client
from shared.results import ResultStore
from shared.tokens import TokenStore
from shared.topology import Topology
from tests.fakes.audio import mp3_duration
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import SECONDS_PER_CHAR
from tests.integration.stack import AMQP_URL, AUTH_IDENTITY, REDIS_URL, Service, Stack, ws_url
from tests.integration.test_pipeline import assert_silent
from tests.integration.test_streaming import frame, sentences_of, until_done

pytestmark = [pytest.mark.broker, pytest.mark.integration]

GATEWAY_IDS = ("drain-a", "drain-b", "drain-c", "drain-d", "kill-e", "kill-f", "resume-g")

ANSWER = "Der Bodensee ist groß. Er liegt an drei Ländern. Sein Wasser trinken viele."
SENTENCES = ["Der Bodensee ist groß.", "Er liegt an drei Ländern.", "Sein Wasser trinken viele."]


@pytest.fixture(scope="module", autouse=True)
def reply_queues_deleted(stack: Stack) -> Iterator[None]:
    """The reply queues of this module's gateways go with it (a killed gateway's stays
    behind with the replies nobody consumed)."""
    yield

    async def delete() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for gateway_id in GATEWAY_IDS:
                await channel.queue_delete(Topology(stack.prefix).reply_queue(gateway_id))

    asyncio.run(delete())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def watch(
    http: aiohttp.ClientSession, port: int, **query: str
) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(ws_url(port, **query))


async def send(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(message))


async def closed_with(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> int | None:
    """The close code the server ended the socket with (no frame may come before it)."""
    message = await ws.receive(timeout=timeout)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return ws.close_code


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def count(service: Service, event: str) -> int:
    return sum(1 for e in service.log_events() if e.get("event") == event)


async def logged(service: Service, event: str, times: int = 1, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while count(service, event) < times:
        assert time.monotonic() < deadline, f"{service.name} never logged {event!r} {times}x"
        await asyncio.sleep(0.05)


def exited_within(service: Service, bound_s: float, since: float) -> float:
    """Seconds from `since` until the process exited; fails if not within `bound_s`."""
    service.process.wait(bound_s + 5)
    took = time.monotonic() - since
    assert took <= bound_s, f"{service.name} took {took:.1f} s to exit (bound {bound_s} s)"
    return took


async def test_sigterm_finishes_turns_in_flight_refuses_new_ones_then_closes_with_1001(
    stack: Stack, gemini_fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    drain_s = 8.0
    service, port = stack.start_gateway("drain-a", GATEWAY_ID="drain-a", GATEWAY_DRAIN_S="8")
    gemini_fake.delay_s = 2.0  # each answer takes over 2 s: in flight at the SIGTERM
    seed = await watch(http, port)  # protocol 1
    streaming = [await watch(http, port, protocol="2") for _ in range(2)]
    idle = await watch(http, port, protocol="2")
    for i, ws in enumerate([seed, *streaming]):
        await send(ws, {"type": "text", "message": f"Frage Nummer {i}"})
    await logged(service, "turn accepted", 3)

    stopped = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    await logged(service, "gateway draining")
    status, body = healthz(port)
    assert (status, body["status"], body["pending_turns"]) == (503, "draining", 3)
    # No new turns: a question on an open socket gets a clear error at once, and a new
    # socket is refused before the upgrade.
    await send(idle, {"type": "text", "message": "Noch eine Frage"})
    refused = await frame(idle, timeout=2)
    assert refused["code"] == "shutting_down"
    assert "neu gestartet" in refused["error"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await watch(http, port)
    assert handshake.value.status == 503

    # Every turn in flight is answered, then the socket closes with 1001 (going away).
    reply = await frame(seed)
    assert reply["text_response"] == "Du sagtest: Frage Nummer 0. Wir sprechen seit 1 Runden."
    for i, ws in enumerate(streaming, start=1):
        frames = await until_done(ws)
        assert frames[0]["type"] == "turn"
        assert frames[-1]["type"] == "done", frames[-1]
        assert frames[-1]["text_response"].startswith(f"Du sagtest: Frage Nummer {i}.")
    for ws in (seed, *streaming, idle):
        assert await closed_with(ws) == 1001
    took = exited_within(service, drain_s + 1, stopped)
    assert service.process.returncode == 0
    (drained,) = [e for e in service.log_events() if e.get("event") == "gateway drained"]
    assert drained["unfinished_turns"] == 0
    assert took < drain_s  # it left once its turns were done, not at the bound
    assert count(service, "turn accepted") == 3  # the refused question never became a turn


async def test_a_drain_that_runs_out_fails_the_rest_and_they_are_resumed_elsewhere(
    stack: Stack, gemini_fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    draining, port = stack.start_gateway("drain-b", GATEWAY_ID="drain-b", GATEWAY_DRAIN_S="1")
    _, other = stack.start_gateway("drain-c", GATEWAY_ID="drain-c")
    gemini_fake.script = ANSWER
    gemini_fake.delay_s = 4.0  # longer than the drain
    ws = await watch(http, port, protocol="2")
    await send(ws, {"type": "hello", "protocol": 2})
    session_id = (await frame(ws))["session_id"]
    await send(ws, {"type": "text", "message": "Erzähl vom Bodensee."})
    turn_id = (await frame(ws))["turn_id"]

    stopped = time.monotonic()
    draining.process.send_signal(signal.SIGTERM)
    failed = await frame(ws, timeout=5)
    assert failed == {
        "type": "error",
        "error": failed["error"],
        "code": "shutting_down",
        "turn_id": turn_id,
    }
    assert "Wiederverbinden" in failed["error"]
    assert await closed_with(ws) == 1001
    exited_within(draining, 1 + 2.5, stopped)  # the drain bound plus the closing handshake

    # The pipeline went on; the watch fetches the answer from the other gateway.
    again = await watch(http, other, protocol="2", session=session_id)
    await send(again, {"type": "resume", "turn_id": turn_id})
    frames = await until_done(again)
    assert frames[0] == {"type": "turn", "turn_id": turn_id, "resumed": True}
    assert [(seq, text) for seq, text, _ in sentences_of(frames)] == list(enumerate(SENTENCES))
    assert frames[-1]["type"] == "done"
    assert frames[-1]["text_response"] == ANSWER
    await assert_silent(again, 1.0)
    await again.close()


async def test_a_second_sigterm_ends_the_drain_at_once(
    stack: Stack, gemini_fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    service, port = stack.start_gateway("drain-d", GATEWAY_ID="drain-d", GATEWAY_DRAIN_S="60")
    gemini_fake.delay_s = 5.0
    ws = await watch(http, port, protocol="2")
    await send(ws, {"type": "text", "message": "Eine lange Frage"})
    turn_id = (await frame(ws))["turn_id"]
    stopped = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    await logged(service, "gateway draining")
    service.process.send_signal(signal.SIGTERM)
    failed = await frame(ws, timeout=5)
    assert (failed["code"], failed["turn_id"]) == ("shutting_down", turn_id)
    assert await closed_with(ws) == 1001
    exited_within(service, 3.0, stopped)  # not the 60 s of GATEWAY_DRAIN_S


async def test_a_watch_resumes_its_turn_on_another_gateway_after_a_sigkill(
    stack: Stack, gemini_fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    killed, port = stack.start_gateway("kill-e", GATEWAY_ID="kill-e")
    _, other = stack.start_gateway("kill-f", GATEWAY_ID="kill-f")
    gemini_fake.script = ANSWER
    gemini_fake.delay_s = 2.0
    seed = await watch(http, port)
    streaming = await watch(http, port, protocol="2")
    await send(seed, {"type": "hello"})
    seed_session = (await frame(seed))["session_id"]
    await send(streaming, {"type": "hello", "protocol": 2})
    streaming_session = (await frame(streaming))["session_id"]
    await send(seed, {"type": "text", "message": "Wie groß ist der Bodensee?"})
    await send(streaming, {"type": "text", "message": "Wo liegt der Bodensee?"})
    streamed_turn = (await frame(streaming))["turn_id"]
    await logged(killed, "turn accepted", 2)
    (seed_turn,) = [
        e["turn_id"]
        for e in killed.log_events()
        if e.get("event") == "turn accepted" and e.get("session_id") == seed_session
    ]

    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait(5)
    for ws in (seed, streaming):
        message = await ws.receive(timeout=5)  # a crash: the connection just breaks
        assert message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ), message
        assert ws.close_code != 1001

    # Both reconnect to the other gateway at once, while their turns are still running.
    seed_again = await watch(http, other, session=seed_session)
    streaming_again = await watch(http, other, protocol="2", session=streaming_session)
    await send(seed_again, {"type": "resume", "turn_id": seed_turn})
    await send(streaming_again, {"type": "resume", "turn_id": streamed_turn})

    frames = await until_done(streaming_again)
    assert frames[0] == {"type": "turn", "turn_id": streamed_turn, "resumed": True}
    assert [(seq, text) for seq, text, _ in sentences_of(frames)] == list(enumerate(SENTENCES))
    assert frames[-1]["text_response"] == ANSWER
    reply = await frame(seed_again)
    assert reply["turn_id"] == seed_turn
    assert reply["text_response"] == ANSWER
    assert reply["transcript"] == "Wie groß ist der Bodensee?"
    # Protocol 1: one reply, the sentences' MP3s joined into one file.
    duration = mp3_duration(base64.b64decode(reply["audio_base64"]))
    assert duration == pytest.approx(len("".join(SENTENCES)) * SECONDS_PER_CHAR, abs=0.3)
    # Exactly once: nothing of either turn follows.
    await assert_silent(streaming_again, 1.0)
    await assert_silent(seed_again, 0.1)


async def test_resume_of_an_unknown_turn_or_of_another_identitys_turn_is_refused(
    stack: Stack, gemini_fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    _, port = stack.start_gateway("resume-g", GATEWAY_ID="resume-g")
    other_token = await TokenStore(redis_client(REDIS_URL), stack.prefix).create("other-watch")
    owner = await watch(http, port)
    await send(owner, {"type": "text", "message": "Wie tief ist der Bodensee?"})
    answered = await frame(owner)
    turn_id = answered["turn_id"]

    await send(owner, {"type": "resume", "turn_id": "f" * 32})
    unknown = await frame(owner)
    assert (unknown["code"], unknown["turn_id"]) == ("unknown_turn", "f" * 32)
    assert unknown["error"] == "Zu dieser Anfrage liegt keine Antwort (mehr) vor."
    await send(owner, {"type": "resume", "turn_id": "../" * 3})
    assert (await frame(owner))["code"] == "invalid_field"

    # Another identity (another paired watch) learns nothing of the turn.
    stranger = await watch(http, port, token=other_token)
    await send(stranger, {"type": "resume", "turn_id": turn_id})
    refused = await frame(stranger)
    assert (refused["code"], refused["turn_id"]) == ("unknown_turn", turn_id)
    await assert_silent(stranger, 0.5)

    # A turn that was taken but never finished, past its deadline: `timeout`.
    lost = "e" * 32
    await ResultStore(redis_client(REDIS_URL), stack.prefix, 60).begin(
        lost, AUTH_IDENTITY, "s" * 22, int((time.time() - 1) * 1000), voice=False
    )
    await send(owner, {"type": "resume", "turn_id": lost})
    expired = await frame(owner)
    assert (expired["code"], expired["turn_id"]) == ("timeout", lost)

    # The identity that asked gets it again, on a new connection, like the first time.
    again = await watch(http, port)
    await send(again, {"type": "resume", "turn_id": turn_id})
    resumed = await frame(again)
    assert resumed["turn_id"] == turn_id
    assert resumed["text_response"] == answered["text_response"]
    assert resumed["audio_base64"] == answered["audio_base64"]
    for ws in (owner, stranger, again):
        await ws.close()
