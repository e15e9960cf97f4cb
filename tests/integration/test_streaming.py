"""Protocol 2: answers streamed sentence by sentence through the real processes, broker
and Redis (Google fakes), in order across several tts replicas, exactly once, with
streamed uploads and barge-in; protocol 1 clients still get their one reply."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from shared.history import HistoryStore
from shared.redis_client import redis_client
from tests.fakes.audio import mp3_duration, webm_opus
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import SECONDS_PER_CHAR, FakeGoogleGrpc
from tests.integration.stack import AUTH_IDENTITY, REDIS_URL, Stack, ws_url
from tests.integration.test_pipeline import assert_silent

pytestmark = [pytest.mark.broker, pytest.mark.integration]

ANSWER = (
    "Rom liegt in Italien. Es ist die Hauptstadt des Landes. "
    "Dort leben etwa 2,8 Millionen Menschen. Der Tiber fließt durch die Stadt. "
    "Das Kolosseum ist fast zweitausend Jahre alt. Am 21. April feiert Rom Geburtstag."
)
SENTENCES = [
    "Rom liegt in Italien.",
    "Es ist die Hauptstadt des Landes.",
    "Dort leben etwa 2,8 Millionen Menschen.",
    "Der Tiber fließt durch die Stadt.",
    "Das Kolosseum ist fast zweitausend Jahre alt.",
    "Am 21. April feiert Rom Geburtstag.",
]


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[int]:
    # Three tts replicas, so one answer's sentences are spoken in parallel.
    for name in ("tts_worker_2", "tts_worker_3"):
        stack.start_worker("tts_worker", name)
    _, port = stack.start_gateway("g1", GATEWAY_ID="g1")
    yield port


@pytest.fixture
async def ws2(gateway: int) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(gateway, protocol="2")) as socket,
    ):
        yield socket


async def frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 20.0) -> Any:
    """The next frame: a dict for JSON, bytes for binary."""
    message = await ws.receive(timeout=timeout)
    if message.type is aiohttp.WSMsgType.BINARY:
        return bytes(message.data)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def until_done(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """Frames of one turn, up to and including its `done` (or error)."""
    frames: list[Any] = []
    while True:
        got = await frame(ws)
        frames.append(got)
        if isinstance(got, dict) and got.get("type") in ("done", "error"):
            return frames


def sentences_of(frames: list[Any]) -> list[tuple[int, str, bytes]]:
    """(seq, text, mp3) of each sentence frame and the binary frame right after it."""
    found = []
    for i, got in enumerate(frames):
        if isinstance(got, dict) and got.get("type") == "sentence":
            if i + 1 == len(frames):
                break  # its MP3 is still to come
            audio = frames[i + 1]
            assert isinstance(audio, bytes), "a sentence frame must be followed by its MP3"
            found.append((got["seq"], got["text"], audio))
    return found


async def test_protocol_2_streams_each_sentence_with_its_mp3(
    ws2: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script = ANSWER
    await ws2.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
    frames = await until_done(ws2)
    turn = frames[0]
    assert turn["type"] == "turn"
    sentences = sentences_of(frames)
    assert [(seq, text) for seq, text, _ in sentences] == list(enumerate(SENTENCES))
    for _, text, audio in sentences:  # each one a complete, playable MP3 of its own
        assert mp3_duration(audio) == pytest.approx(len(text) * SECONDS_PER_CHAR, abs=0.15)
    done = frames[-1]
    assert done["type"] == "done" and done["turn_id"] == turn["turn_id"]
    assert done["text_response"] == " ".join(SENTENCES)
    assert 0 < done["timings"]["first_audio"] <= done["timings"]["total"]
    assert all(f.get("turn_id") == turn["turn_id"] for f in frames if isinstance(f, dict))
    await assert_silent(ws2, 0.3)


async def test_sentences_arrive_in_order_from_replicas_with_shuffled_latencies(
    ws2: aiohttp.ClientWebSocketResponse,
    stack: Stack,
    gemini_fake: FakeGemini,
    grpc_fake: FakeGoogleGrpc,
) -> None:
    gemini_fake.script = ANSWER
    grpc_fake.synthesize_s = (0.0, 0.4)
    for _ in range(3):
        await ws2.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
        frames = await until_done(ws2)
        assert [(s, t) for s, t, _ in sentences_of(frames)] == list(enumerate(SENTENCES))
    spoke = {
        name
        for name in ("tts_worker", "tts_worker_2", "tts_worker_3")
        if any(e.get("event") == "synthesized" for e in stack.services[name].log_events())
    }
    assert len(spoke) >= 2, spoke  # the sentences really were spread over replicas


async def test_protocol_1_and_2_clients_on_one_gateway(
    gateway: int, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script = ANSWER
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(gateway)) as seed,
        http.ws_connect(ws_url(gateway)) as streamed,
    ):
        await streamed.send_str(json.dumps({"type": "hello", "protocol": 2}))
        assert (await frame(streamed))["protocol"] == 2
        question = json.dumps({"type": "text", "message": "Erzähl mir von Rom."})
        await seed.send_str(question)
        await streamed.send_str(question)
        reply, frames = await asyncio.gather(frame(seed), until_done(streamed))
        await assert_silent(seed, 0.3)  # exactly one frame for the seed client
    assert reply["text_response"] == " ".join(SENTENCES)
    assert "type" not in reply
    joined = base64.b64decode(reply["audio_base64"])
    # One valid MP3: the sentences' joined, as long as they are together.
    parts = sentences_of(frames)
    assert len(parts) == len(SENTENCES)
    together = sum(mp3_duration(audio) for _, _, audio in parts)
    assert mp3_duration(joined) == pytest.approx(together, abs=0.05)
    assert joined.count(b"Xing") + joined.count(b"Info") == 0


async def test_a_streamed_upload_is_heard_like_the_whole_file(
    ws2: aiohttp.ClientWebSocketResponse, grpc_fake: FakeGoogleGrpc
) -> None:
    clip = webm_opus("Wie hoch ist die Zugspitze", seconds=2.0)
    await ws2.send_str(json.dumps({"type": "audio_start", "format": "webm"}))
    for i in range(0, len(clip), 700):  # MediaRecorder's timeslice chunks
        await ws2.send_bytes(clip[i : i + 700])
    await ws2.send_str(json.dumps({"type": "audio_end"}))
    streamed = await until_done(ws2)
    await ws2.send_str(
        json.dumps({"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"})
    )
    whole = await until_done(ws2)
    transcripts = [
        [f["text"] for f in frames if isinstance(f, dict) and f.get("type") == "transcript"]
        for frames in (streamed, whole)
    ]
    assert transcripts == [["Wie hoch ist die Zugspitze"]] * 2
    first, second = grpc_fake.recognize_requests
    assert first.audio.content == second.audio.content == clip  # byte for byte
    for frames in (streamed, whole):
        assert frames[-1]["text_response"].startswith("Du sagtest: Wie hoch ist die Zugspitze")


async def test_the_transcript_is_shown_while_the_answer_is_still_being_made(
    ws2: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script = ANSWER
    gemini_fake.hold = threading.Event()  # the model says nothing until released
    try:
        clip = webm_opus("Erzähl mir von Rom", seconds=2.0)
        await ws2.send_str(
            json.dumps({"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"})
        )
        turn = await frame(ws2)
        heard = await frame(ws2)  # comes from the stt stage, before any word is generated
        assert turn["type"] == "turn"
        assert heard == {
            "type": "transcript",
            "turn_id": turn["turn_id"],
            "text": "Erzähl mir von Rom",
        }
    finally:
        gemini_fake.hold.set()
    frames = await until_done(ws2)
    assert [seq for seq, _, _ in sentences_of(frames)] == list(range(len(SENTENCES)))
    # Shown once: not again with the first sentence.
    assert not [f for f in frames if isinstance(f, dict) and f.get("type") == "transcript"]
    assert frames[-1]["type"] == "done"


async def test_binary_frames_outside_an_upload_and_a_lone_audio_end_are_refused(
    ws2: aiohttp.ClientWebSocketResponse,
) -> None:
    await ws2.send_bytes(b"\x1a\x45\xdf\xa3")
    error = await frame(ws2)
    assert (error["type"], error["code"]) == ("error", "binary_frame")
    await ws2.send_str(json.dumps({"type": "audio_end"}))
    error = await frame(ws2)
    assert error["code"] == "missing_audio"
    await ws2.send_str(json.dumps({"type": "audio_start"}))
    await ws2.send_bytes(b"not webm at all")
    await ws2.send_str(json.dumps({"type": "audio_end"}))
    error = await frame(ws2)
    assert error["code"] == "unsupported_audio"


async def test_cancel_stops_the_answer_and_memory_keeps_what_was_heard(
    gateway: int, stack: Stack, gemini_fake: FakeGemini
) -> None:
    session = "barge-in-session-0123456789"
    gemini_fake.script = ANSWER + " " + " ".join(["Und noch ein Satz über Rom."] * 30)
    gemini_fake.token_interval_s = 0.05
    url = ws_url(gateway, protocol="2", session=session)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"type": "text", "message": "Erzähl mir alles über Rom."}))
        heard: list[Any] = []
        while len(sentences_of(heard)) < 2 or not isinstance(heard[-1], bytes):
            heard.append(await frame(ws))
        await ws.send_str(json.dumps({"type": "cancel"}))
        cancelled = await frame(ws)
        while isinstance(cancelled, bytes) or cancelled.get("type") == "sentence":
            heard.append(cancelled)  # frames already on their way before the cancel
            cancelled = await frame(ws)
        assert cancelled == {"type": "cancelled", "turn_id": heard[0]["turn_id"]}
        await assert_silent(ws, 1.0)  # nothing of that turn after `cancelled`
    spoken = " ".join(text for _, text, _ in sentences_of(heard))
    history = HistoryStore(redis_client(REDIS_URL), stack.prefix)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        past = await history.load(AUTH_IDENTITY, session)
        if past:
            break
        await asyncio.sleep(0.1)
    assert [(e.user, e.model) for e in past] == [("Erzähl mir alles über Rom.", spoken)]
    # The model stopped long before its 36 sentences: llm logged the cancel.
    llm = stack.services["llm_worker"].log_events()
    stopped = [e for e in llm if e.get("event") == "turn cancelled, generation stopped"]
    assert stopped and int(str(stopped[-1]["sentences"])) < 20


async def test_a_new_question_barges_in(
    ws2: aiohttp.ClientWebSocketResponse, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script = ANSWER
    gemini_fake.token_interval_s = 0.05
    await ws2.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
    first = await frame(ws2)
    assert first["type"] == "turn"
    await ws2.send_str(json.dumps({"type": "text", "message": "Wie spät ist es?"}))
    frames = [await frame(ws2)]
    while not (isinstance(frames[-1], dict) and frames[-1].get("type") == "done"):
        frames.append(await frame(ws2))
    kinds = [f["type"] if isinstance(f, dict) else "mp3" for f in frames]
    cancelled_at = kinds.index("cancelled")
    assert frames[cancelled_at]["turn_id"] == first["turn_id"]
    after = [f for f in frames[cancelled_at + 1 :] if isinstance(f, dict)]
    assert all(f["turn_id"] != first["turn_id"] for f in after)
    assert frames[-1]["text_response"].startswith("Es ist ")


async def test_exactly_once_per_sentence_when_a_tts_worker_is_killed_mid_turn(
    ws2: aiohttp.ClientWebSocketResponse,
    stack: Stack,
    gemini_fake: FakeGemini,
    grpc_fake: FakeGoogleGrpc,
) -> None:
    gemini_fake.script = ANSWER
    grpc_fake.synthesize_s = (0.3, 0.3)
    await ws2.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
    await asyncio.sleep(0.5)  # sentences are being spoken by all three replicas
    victim = stack.services["tts_worker_3"]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(5)
    frames = await until_done(ws2)
    assert [(s, t) for s, t, _ in sentences_of(frames)] == list(enumerate(SENTENCES))
    await assert_silent(ws2, 0.5)
    stack.start_worker("tts_worker", "tts_worker_3")
