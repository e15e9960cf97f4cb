"""Whole turns through /ws, the real broker and Redis, and the four services as processes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from google.cloud.speech_v1.types import cloud_speech

from shared.contracts import Stage
from shared.topology import DEAD_REASON_HEADER, Topology
from tests.fakes import audio as tests_audio
from tests.fakes.audio import mp3_duration, webm_opus
from tests.fakes.gemini import FakeGemini, answer_for
from tests.fakes.google_grpc import SECONDS_PER_CHAR, FakeGoogleGrpc
from tests.integration.stack import AMQP_URL, AUTH_TOKEN, ROOT, Stack, ws_url

pytestmark = [pytest.mark.broker, pytest.mark.integration]


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[int]:
    _, port = stack.start_gateway("g1", GATEWAY_ID="g1")
    yield port


@pytest.fixture
async def ws(gateway: int) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(gateway)) as socket,
    ):
        yield socket


async def ask(
    ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any] | str, timeout: float = 20.0
) -> dict[str, Any]:
    await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
    return await receive(ws, timeout)


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 20.0) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    result: dict[str, Any] = json.loads(message.data)
    return result


async def assert_silent(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
    with pytest.raises(asyncio.TimeoutError):
        extra = await ws.receive(timeout=seconds)
        pytest.fail(f"unexpected extra frame: {extra.data[:200]!r}")


def audio_frame(clip: bytes) -> dict[str, str]:
    return {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}


def assert_spoken_answer(reply: dict[str, Any], text: str) -> None:
    assert reply["text_response"] == text
    assert reply["audio_format"] == "mp3"
    duration = mp3_duration(base64.b64decode(reply["audio_base64"]))
    assert duration == pytest.approx(len(text) * SECONDS_PER_CHAR, abs=0.15)


async def test_text_turn_returns_the_seed_reply_shape(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    reply = await ask(ws, {"type": "text", "message": "Wie hoch ist die Zugspitze?"})
    (request,) = gemini_fake.requests
    expected = answer_for(request["body"])
    assert expected.startswith("Du sagtest: Wie hoch ist die Zugspitze?")
    assert_spoken_answer(reply, expected)
    assert reply["transcript"] == "Wie hoch ist die Zugspitze?"
    assert set(reply["timings"]) >= {"llm", "tts", "total"}
    assert request["model"] == "gemini-flash-latest"
    assert "Smartwatch" in request["body"]["systemInstruction"]["parts"][0]["text"]
    assert grpc_fake.synthesize_requests[0].voice.name == "de-DE-Wavenet-F"
    assert grpc_fake.recognize_requests == []  # typed text skips speech recognition


async def test_audio_turn_is_transcribed_answered_and_spoken(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, grpc_fake: FakeGoogleGrpc
) -> None:
    clip = webm_opus("Wie wird das Wetter morgen", seconds=2.0)
    reply = await ask(ws, audio_frame(clip))
    assert reply["transcript"] == "Wie wird das Wetter morgen"
    (recognized,) = grpc_fake.recognize_requests
    assert recognized.audio.content == clip  # passed on untouched, no transcoding
    assert recognized.config.encoding == cloud_speech.RecognitionConfig.AudioEncoding.WEBM_OPUS
    assert recognized.config.language_code == "de-DE"
    (request,) = gemini_fake.requests
    assert request["body"]["contents"][-1]["parts"][0]["text"] == "Wie wird das Wetter morgen"
    assert_spoken_answer(reply, answer_for(request["body"]))
    assert set(reply["timings"]) >= {"stt", "llm", "tts", "total"}


async def test_the_next_turn_remembers_the_previous_one(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    first = await ask(ws, {"type": "text", "message": "Ich heiße Ada."})
    second = await ask(ws, {"type": "text", "message": "Wie heiße ich?"})
    contents = gemini_fake.requests[1]["body"]["contents"]
    assert [c["parts"][0]["text"] for c in contents] == [
        "Ich heiße Ada.",
        first["text_response"],
        "Wie heiße ich?",
    ]
    assert second["text_response"].endswith("seit 2 Runden.")


async def test_silence_gets_a_clear_reply_and_no_llm_call(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    reply = await ask(ws, audio_frame(webm_opus(None, silent=True)))
    assert reply["code"] == "no_speech"
    assert "nichts verstanden" in reply["error"]
    assert gemini_fake.requests == []


async def test_malformed_frames_get_errors_and_the_connection_stays_open(
    ws: aiohttp.ClientWebSocketResponse,
) -> None:
    assert (await ask(ws, "{oops"))["error"] == "Ungültiges JSON-Format."
    assert (await ask(ws, {"type": "fax"}))["error"] == "Unbekannter Nachrichtentyp."
    assert (await ask(ws, {"type": "audio"}))["error"] == "Keine Audio-Daten empfangen."
    assert (await ask(ws, {"type": "audio", "data": "!!"}))["code"] == "invalid_base64"
    not_webm = base64.b64encode(b"RIFF....WAVEfmt " + b"\0" * 64).decode()
    assert (await ask(ws, {"type": "audio", "data": not_webm}))["code"] == "unsupported_audio"
    await ws.send_bytes(b"\x00\x01")
    assert (await receive(ws))["code"] == "binary_frame"
    # A lone surrogate is valid JSON but no text (it used to crash the handler).
    assert (await ask(ws, '{"type": "text", "message": "\\ud800"}'))["code"] == "invalid_field"
    assert (await ask(ws, {"type": "text", "message": "\u200b\ufeff"}))["code"] == "empty_text"
    reply = await ask(ws, {"type": "text", "message": "Noch da?"})
    assert reply["text_response"].startswith("Du sagtest: Noch da?")


async def test_permanent_backend_failure_is_an_error_reply_and_dead_lettered(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, stack: Stack
) -> None:
    gemini_fake.failures.append(400)
    reply = await ask(ws, {"type": "text", "message": "Verbotene Frage"})
    assert reply["code"] == "backend_rejected"
    assert "400" not in reply["error"]  # no exception text for the watch
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(Topology(stack.prefix).dead_queue(Stage.LLM))
        message = await queue.get(timeout=5)
        assert message is not None
        await message.ack()
    assert message.body.decode() == "Verbotene Frage"
    assert str(message.headers[DEAD_REASON_HEADER]).startswith("backend_rejected")
    assert message.correlation_id == reply["turn_id"]


async def test_transient_backend_failure_is_retried(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    gemini_fake.failures.extend([429, 503])
    reply = await ask(ws, {"type": "text", "message": "Hallo"})
    assert reply["text_response"].startswith("Du sagtest: Hallo.")
    assert len(gemini_fake.requests) == 3


async def test_two_gateways_each_get_only_their_own_replies(stack: Stack, gateway: int) -> None:
    _, second = stack.start_gateway("g2", GATEWAY_ID="g2")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(gateway)) as one,
        session.ws_connect(ws_url(second)) as two,
    ):
        replies = await asyncio.gather(
            ask(one, {"type": "text", "message": "Eins"}),
            ask(two, {"type": "text", "message": "Zwei"}),
        )
        assert replies[0]["text_response"].startswith("Du sagtest: Eins.")
        assert replies[1]["text_response"].startswith("Du sagtest: Zwei.")
        await assert_silent(one, 0.5)
        await assert_silent(two, 0.5)
    delivered = [e for e in stack.services["g2"].log_events() if e.get("event") == "turn delivered"]
    assert len(delivered) == 1


async def test_worker_killed_mid_turn_still_answers_exactly_once(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini, stack: Stack
) -> None:
    gemini_fake.delay_s = 2.0
    await ws.send_str(json.dumps({"type": "text", "message": "Überlebst du das?"}))
    deadline = time.monotonic() + 10
    while not gemini_fake.requests and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert gemini_fake.requests, "llm_worker never called Gemini"
    stack.services["llm_worker"].stop(signal.SIGKILL)
    gemini_fake.delay_s = 0.0
    stack.start_worker("llm_worker")
    reply = await receive(ws, timeout=25)
    assert reply["text_response"].startswith("Du sagtest: Überlebst du das?")
    await assert_silent(ws, 3.0)
    assert len(gemini_fake.requests) == 2  # the redelivered turn was answered by the new worker


async def test_a_turn_past_its_deadline_gets_a_timeout_error(
    stack: Stack, gemini_fake: FakeGemini
) -> None:
    _, port = stack.start_gateway("short", GATEWAY_ID="short", TURN_TIMEOUT_S="1.5")
    gemini_fake.delay_s = 4.0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(port)) as socket,
    ):
        started = time.monotonic()
        reply = await ask(socket, {"type": "text", "message": "Langsam"})
        assert reply["code"] == "timeout"
        assert 1.4 < time.monotonic() - started < 3.0
        await assert_silent(socket, 4.0)  # the late answer never arrives


def test_a_worker_without_broker_keeps_retrying_with_a_clear_log_line(stack: Stack) -> None:
    service = stack.start("tts_worker", "tts_no_broker", AMQP_URL="amqp://guest:guest@127.0.0.1:1/")
    try:
        service.wait_for_log("broker unreachable, retrying", timeout=20)
        time.sleep(1.5)
        assert service.process.poll() is None
        retries = [
            e for e in service.log_events() if e.get("event") == "broker unreachable, retrying"
        ]
        assert len(retries) >= 2
        assert all("guest:guest" not in str(e.get("url")) for e in retries)  # password redacted
    finally:
        service.stop()


def test_missing_credentials_stop_a_worker_with_one_line(stack: Stack) -> None:
    service = stack.start(
        "stt_worker",
        "stt_no_credentials",
        STT_BACKEND="google",  # forced: `auto` would fall back to the local model
        GOOGLE_PLAINTEXT_ENDPOINTS="false",
        GOOGLE_APPLICATION_CREDENTIALS="",
        HOME="/nonexistent",
    )
    assert service.process.wait(30) != 0
    output = service.log_path.read_text().strip().splitlines()
    assert output[-1].startswith(
        "stt_worker: no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS"
    )
    assert not any("Traceback" in line for line in output)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        # The watch's token as a person would keep it (`uhrwerk ask` reads UHRWERK_TOKEN).
        env={**os.environ, "PYTHONPATH": str(ROOT), "UHRWERK_TOKEN": AUTH_TOKEN},
    )


def test_uhrwerk_ask_with_text_and_with_a_wav_recording(gateway: int, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{gateway}/ws"
    typed = run_cli("ask", "Wie hoch ist die Zugspitze?", "--url", url, cwd=tmp_path)
    assert typed.returncode == 0, typed.stderr
    assert "answer:     Du sagtest: Wie hoch ist die Zugspitze?." in typed.stdout
    assert mp3_duration((tmp_path / "antwort.mp3").read_bytes()) > 0.5

    wav = tmp_path / "frage.wav"
    wav.write_bytes(tests_audio.wav(1.0))
    spoken = run_cli("ask", "--audio", str(wav), "--url", url, "-o", "a.mp3", cwd=tmp_path)
    # A WAV carries no words for the fake recogniser: converted and sent, it is silence.
    assert spoken.returncode == 1
    assert "no_speech" in spoken.stderr

    unreachable = run_cli("ask", "Hallo", "--url", "ws://127.0.0.1:1/ws", cwd=tmp_path)
    assert unreachable.returncode == 2
    assert "no answer from" in unreachable.stderr


async def test_healthz_reports_the_broker(gateway: int) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{gateway}/healthz") as response,
    ):
        body = await response.json()
    assert response.status == 200
    assert body["broker"] == "connected" and body["gateway_id"] == "g1"


async def test_too_many_turns_in_flight_get_busy(
    ws: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    gemini_fake.delay_s = 1.0
    for i in range(5):  # the gateway allows 4 in flight per connection
        await ws.send_str(json.dumps({"type": "text", "message": f"Tipp {i}"}))
    replies = [await receive(ws) for _ in range(5)]
    assert [r.get("code") for r in replies].count("busy") == 1
    assert sum("text_response" in r for r in replies) == 4


async def test_oversized_frames_get_an_error_and_the_connection_stays_open(
    stack: Stack,
) -> None:
    _, port = stack.start_gateway("small", GATEWAY_ID="small", MAX_MESSAGE_BYTES="4096")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port)) as socket,
    ):
        big = json.dumps({"type": "text", "message": "x" * 5000})
        assert (await ask(socket, big))["code"] == "too_large"
        reply = await ask(socket, {"type": "text", "message": "Klein"})
        assert reply["text_response"].startswith("Du sagtest: Klein.")
        await socket.send_str("y" * 20000)  # over 4x the limit: closed with 1009
        closing = await socket.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert socket.close_code == 1009
