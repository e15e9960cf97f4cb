"""Conversations that remember: sessions across reconnects and restarts, against the
real broker and Redis, with the services as processes."""

from __future__ import annotations

import base64
import json
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import grpc
import pytest

from shared.history import HistoryStore
from shared.redis_client import redis_client
from tests.fakes.audio import webm_opus
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.stack import AUTH_IDENTITY, REDIS_URL, Stack, ws_url
from tests.integration.test_pipeline import ask, assert_silent, receive

pytestmark = [pytest.mark.broker, pytest.mark.integration]


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[int]:
    _, port = stack.start_gateway("g1", GATEWAY_ID="g1")
    yield port


def url(port: int, session: str | None = None) -> str:
    return ws_url(port, session=session) if session else ws_url(port)


def texts(request: dict[str, Any]) -> list[str]:
    return [c["parts"][0]["text"] for c in request["body"]["contents"]]


async def say(port: int, message: str, session: str | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.ws_connect(url(port, session)) as ws:
        return await ask(ws, {"type": "text", "message": message})


SESSION = "watch-of-ada-0123456789"


async def test_a_reconnecting_watch_continues_its_conversation(
    gateway: int, gemini_fake: FakeGemini
) -> None:
    first = await say(gateway, "Ich heiße Ada.", SESSION + "a")
    await say(gateway, "Wie heiße ich?", SESSION + "a")
    assert texts(gemini_fake.requests[1]) == [
        "Ich heiße Ada.",
        first["text_response"],
        "Wie heiße ich?",
    ]


async def test_the_seed_client_gets_a_fresh_session_per_connection_and_nothing_unasked(
    gateway: int, gemini_fake: FakeGemini
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url(gateway)) as ws:
        await ask(ws, {"type": "text", "message": "Erste Verbindung"})
        await assert_silent(ws, 0.3)  # no hello or other frame it does not know
    await say(gateway, "Zweite Verbindung")
    assert texts(gemini_fake.requests[1]) == ["Zweite Verbindung"]


async def test_hello_issues_a_session_id_to_reuse(gateway: int, gemini_fake: FakeGemini) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url(gateway)) as ws:
            hello = await ask(ws, {"type": "hello"})
            assert hello["type"] == "hello"
            issued = hello["session_id"]
            assert len(issued) >= 22  # 128 random bits in URL-safe base64
            await ask(ws, {"type": "text", "message": "Merk dir die Zahl 7."})
        async with http.ws_connect(url(gateway)) as ws:
            again = await ask(ws, {"type": "hello", "session_id": issued})
            assert again == {"type": "hello", "session_id": issued}
            await ask(ws, {"type": "text", "message": "Welche Zahl?"})
    assert texts(gemini_fake.requests[1])[0] == "Merk dir die Zahl 7."


async def test_two_hellos_without_id_get_different_sessions(gateway: int) -> None:
    async with aiohttp.ClientSession() as http:
        ids = set()
        for _ in range(2):
            async with http.ws_connect(url(gateway)) as ws:
                ids.add((await ask(ws, {"type": "hello"}))["session_id"])
    assert len(ids) == 2


async def test_invalid_session_ids_are_refused(gateway: int) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            async with http.ws_connect(url(gateway, "short")):
                pass
        assert caught.value.status == 400
        async with http.ws_connect(url(gateway)) as ws:
            error = await ask(ws, {"type": "hello", "session_id": "../../etc/passwd-0000000"})
            assert error["code"] == "invalid_session"
            assert (await ask(ws, {"type": "text", "message": "Noch da"}))["text_response"]


async def test_reset_forgets_the_conversation(gateway: int, gemini_fake: FakeGemini) -> None:
    session = SESSION + "reset"
    await say(gateway, "Ich heiße Bob.", session)
    async with aiohttp.ClientSession() as http, http.ws_connect(url(gateway, session)) as ws:
        assert await ask(ws, {"type": "reset"}) == {"type": "reset", "session_id": session}
        await ask(ws, {"type": "text", "message": "Wie heiße ich?"})
    assert texts(gemini_fake.requests[-1]) == ["Wie heiße ich?"]


async def test_a_failed_turn_leaves_nothing_in_memory(
    stack: Stack, gateway: int, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    session = SESSION + "failed"
    grpc_fake.synthesize_failures.append(grpc.StatusCode.INVALID_ARGUMENT)
    failed = await say(gateway, "Diese Antwort geht verloren.", session)
    assert failed["code"] == "backend_rejected"
    await say(gateway, "Neuer Versuch", session)
    assert texts(gemini_fake.requests[-1]) == ["Neuer Versuch"]
    client = redis_client(REDIS_URL)
    remembered = await HistoryStore(client, stack.prefix).load(AUTH_IDENTITY, session)
    await client.aclose()
    assert [e.user for e in remembered] == ["Neuer Versuch"]


async def test_memory_survives_restarting_the_llm_worker_and_the_gateway(
    stack: Stack, gemini_fake: FakeGemini
) -> None:
    session = SESSION + "restart"
    _, port = stack.start_gateway("restart-1", GATEWAY_ID="restart1")
    await say(port, "Mein Hund heißt Rex.", session)
    stack.services["llm_worker"].stop(signal.SIGKILL)
    stack.start_worker("llm_worker")
    await say(port, "Und meine Katze Mia.", session)
    stack.services["restart-1"].stop(signal.SIGKILL)
    stack.services["llm_worker"].stop(signal.SIGKILL)
    stack.start_worker("llm_worker")
    _, port = stack.start_gateway("restart-2", GATEWAY_ID="restart2")
    await say(port, "Wie heißt mein Hund?", session)
    third = texts(gemini_fake.requests[-1])
    assert third[0] == "Mein Hund heißt Rex."
    assert third[2] == "Und meine Katze Mia."
    assert third[-1] == "Wie heißt mein Hund?"


async def test_concurrent_turns_of_one_session_on_two_llm_workers_are_serialized(
    stack: Stack, gateway: int, gemini_fake: FakeGemini
) -> None:
    stack.start_worker("llm_worker", "llm_worker_2")
    gemini_fake.delay_s = 0.3
    session = SESSION + "double-tap"
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url(gateway, session)) as ws:
            for i in range(4):  # four taps in a row, all in flight at once
                await ws.send_str(json.dumps({"type": "text", "message": f"Tipp {i}"}))
            replies = [await receive(ws) for _ in range(4)]
    finally:
        stack.services["llm_worker_2"].stop()
    assert all("text_response" in r for r in replies), replies
    # Each call saw every earlier exchange: 1, 3, 5, 7 contents, never the same twice.
    assert sorted(len(r["body"]["contents"]) for r in gemini_fake.requests) == [1, 3, 5, 7]
    last = max(gemini_fake.requests, key=lambda r: len(r["body"]["contents"]))
    asked = texts(last)[0::2]
    assert sorted(asked) == ["Tipp 0", "Tipp 1", "Tipp 2", "Tipp 3"]
    served_by = {
        name
        for name in ("llm_worker", "llm_worker_2")
        if any(e.get("event") == "answered" for e in stack.services[name].log_events())
    }
    assert served_by == {"llm_worker", "llm_worker_2"}


async def test_a_spoken_turn_is_remembered_as_its_transcript(stack: Stack, gateway: int) -> None:
    session = SESSION + "spoken"
    clip = webm_opus("Mein Lieblingsessen ist Pizza", seconds=1.0)
    async with aiohttp.ClientSession() as http, http.ws_connect(url(gateway, session)) as ws:
        reply = await ask(ws, {"type": "audio", "data": base64.b64encode(clip).decode()})
    client = redis_client(REDIS_URL)
    (remembered,) = await HistoryStore(client, stack.prefix).load(AUTH_IDENTITY, session)
    await client.aclose()
    assert remembered.user == "Mein Lieblingsessen ist Pizza"
    assert remembered.model == reply["text_response"]
