"""Answers that are right, through the real processes, broker and Redis (Google fakes):
the clock answers time questions in the watch's zone, the model is told the date and
time, answers are cleaned for speaking, and each turn is spoken in its language."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from llm_worker import clock
from shared.history import HistoryStore
from shared.redis_client import redis_client
from tests.fakes.audio import webm_opus
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.stack import AUTH_IDENTITY, REDIS_URL, Stack, ws_url
from tests.integration.test_pipeline import ask, run_cli

pytestmark = [pytest.mark.broker, pytest.mark.integration]

SESSION = "watch-in-tokyo-0123456789"


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[int]:
    # This module's stt worker detects the language among German and English.
    stack.services["stt_worker"].stop()
    stack.start_worker("stt_worker", STT_LANGUAGE="auto", STT_LANGUAGES="de,en")
    _, port = stack.start_gateway("g1", GATEWAY_ID="g1")
    yield port


@pytest.fixture
async def ws(gateway: int) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(gateway)) as socket,
    ):
        yield socket


def spoken_times(zone: str) -> set[str]:
    """What the clock may say now in `zone` (the minute may turn during the turn)."""
    now = datetime.now(ZoneInfo(zone))
    return {f"Es ist {clock.time_of_day(now + timedelta(minutes=m), 'de')}." for m in (0, 1)}


async def test_the_time_is_told_from_the_clock_in_the_watchs_zone(
    stack: Stack, gateway: int, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(gateway)) as ws,
    ):
        hello = await ask(ws, {"type": "hello", "session_id": SESSION, "timezone": "Asia/Tokyo"})
        assert hello == {"type": "hello", "session_id": SESSION, "timezone": "Asia/Tokyo"}
        reply = await ask(ws, {"type": "text", "message": "Wie spät ist es?"})
    assert reply["text_response"] in spoken_times("Asia/Tokyo"), reply["text_response"]
    assert gemini_fake.requests == []  # no model was asked
    (spoken,) = grpc_fake.synthesize_requests
    assert spoken.input.text == reply["text_response"]
    assert spoken.voice.language_code == "de-DE"
    # Remembered like any other exchange.
    history = HistoryStore(redis_client(REDIS_URL), stack.prefix)
    past = await history.load(AUTH_IDENTITY, SESSION)
    assert [(e.user, e.model) for e in past][-1] == ("Wie spät ist es?", reply["text_response"])


async def test_a_reconnecting_watch_keeps_its_zone(gateway: int, gemini_fake: FakeGemini) -> None:
    url = ws_url(gateway, session=SESSION)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        reply = await ask(ws, {"type": "text", "message": "Wie viel Uhr haben wir?"})
        hello = await ask(ws, {"type": "hello", "session_id": SESSION})
    assert reply["text_response"] in spoken_times("Asia/Tokyo")
    assert hello["timezone"] == "Asia/Tokyo"
    assert gemini_fake.requests == []


async def test_an_unknown_zone_is_refused_with_its_field_named(
    ws: aiohttp.ClientWebSocketResponse,
) -> None:
    error = await ask(ws, {"type": "hello", "timezone": "Mars/Olympus_Mons"})
    assert error["code"] == "invalid_field"
    assert "timezone" in error["error"]
    # The connection stays usable, on the default zone.
    reply = await ask(ws, {"type": "text", "message": "Wie spät ist es?"})
    assert reply["text_response"] in spoken_times("Europe/Berlin")


async def test_the_model_is_told_the_date_and_time_and_searches(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    reply = await ask(ws, {"type": "text", "message": "Wie wird das Wetter morgen in Hamburg?"})
    assert "error" not in reply, reply
    (sent,) = gemini_fake.requests
    system = sent["body"]["systemInstruction"]["parts"][0]["text"]
    now = datetime.now(ZoneInfo("Europe/Berlin"))
    assert f"Heute ist {clock.date(now, 'de')}, es ist " in system
    assert sent["body"]["tools"] == [{"googleSearch": {}}]
    # Grounded: not told to refuse current facts.
    assert "keinen Internetzugang" not in system


async def test_answers_are_cleaned_for_speaking(
    ws: aiohttp.ClientWebSocketResponse, grpc_fake: FakeGoogleGrpc
) -> None:
    # The fake model echoes the question, Markdown and emoji included.
    reply = await ask(
        ws, {"type": "text", "message": "Sag **laut**: Hallo 👋 https://example.com/x"}
    )
    answer = reply["text_response"]
    for dirt in ("**", "👋", "https://", "example.com/x"):
        assert dirt not in answer, answer
    assert "laut" in answer and "Hallo" in answer
    # Spoken sentence by sentence: the sentences make up the answer. tts synthesises a turn's
    # sentences side by side, so they reach the fake in any order; put them in the answer's.
    spoken = [r.input.text for r in grpc_fake.synthesize_requests]
    assert all(text in answer for text in spoken), (spoken, answer)
    assert " ".join(sorted(spoken, key=answer.index)) == answer


async def test_a_typed_english_question_is_answered_in_english_in_an_english_voice(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    reply = await ask(ws, {"type": "text", "message": "What is the capital of France?"})
    assert "error" not in reply, reply
    system = gemini_fake.requests[0]["body"]["systemInstruction"]["parts"][0]["text"]
    assert "Answer in English." in system
    assert "Today is " in system
    voices = {(r.voice.language_code, r.voice.name) for r in grpc_fake.synthesize_requests}
    assert voices == {("en-US", "en-US-Wavenet-F")}


def audio(words: str) -> dict[str, Any]:
    clip = webm_opus(words, seconds=1.5)
    return {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}


async def test_a_spoken_english_question_is_detected_and_answered_in_english(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    reply = await ask(ws, audio("en-US|Who wrote Hamlet"))
    assert reply["transcript"] == "Who wrote Hamlet"
    (recognized,) = grpc_fake.recognize_requests
    assert recognized.config.language_code == "de-DE"
    assert list(recognized.config.alternative_language_codes) == ["en-US"]
    assert "Answer in English." in json.dumps(gemini_fake.requests[0]["body"])
    assert {r.voice.language_code for r in grpc_fake.synthesize_requests} == {"en-US"}


async def test_a_spoken_english_time_question_gets_the_time_in_english(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    reply = await ask(ws, audio("en-US|What time is it"))
    assert reply["text_response"].startswith("It's ")
    assert gemini_fake.requests == []
    (spoken,) = grpc_fake.synthesize_requests
    assert spoken.voice.language_code == "en-US"


async def test_a_sessions_language_decides_over_detection(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    hello = await ask(ws, {"type": "hello", "language": "en-GB"})
    assert hello["language"] == "en-GB"
    await ask(ws, audio("en-GB|Who painted the Mona Lisa"))
    (recognized,) = grpc_fake.recognize_requests
    assert recognized.config.language_code == "en-GB"
    assert list(recognized.config.alternative_language_codes) == []
    voices = {(r.voice.language_code, r.voice.name) for r in grpc_fake.synthesize_requests}
    assert voices == {("en-GB", "en-GB-Wavenet-F")}


def test_uhrwerk_ask_names_the_zone_and_the_language(gateway: int, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{gateway}/ws"
    tokyo = run_cli(
        "ask", "--timezone", "Asia/Tokyo", "Wie spät ist es?", "--url", url, cwd=tmp_path
    )
    assert tokyo.returncode == 0, tokyo.stderr
    answer = tokyo.stdout.split("answer:", 1)[1].splitlines()[0].strip()
    assert answer in spoken_times("Asia/Tokyo")
    wrong = run_cli("ask", "--timezone", "Mars/Olympus_Mons", "Hallo", "--url", url, cwd=tmp_path)
    assert wrong.returncode == 1
    assert "invalid_field" in wrong.stderr
