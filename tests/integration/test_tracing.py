"""Tracing through the real processes: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
fake OTLP/HTTP collector, a typed and a spoken turn each arrive as one trace: the
gateway's turn span, then stt (spoken), llm and one tts span per sentence, each the
child of the one before."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from shared.tracing import session_hash
from tests.fakes.audio import webm_opus
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.fakes.otlp import CollectedSpan, FakeOtlpCollector
from tests.integration.conftest import delete_topology
from tests.integration.stack import WORKERS, Stack, ws_url

pytestmark = [pytest.mark.broker, pytest.mark.integration]


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeOtlpCollector]:
    server = FakeOtlpCollector().start_in_background()
    yield server
    server.stop_background()


@pytest.fixture(scope="module")
def traced(
    grpc_fake: FakeGoogleGrpc,
    gemini_fake: FakeGemini,
    collector: FakeOtlpCollector,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[int]:
    """A stack exporting its spans to `collector`; the gateway's port."""
    prefix = f"tr{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, grpc_fake, gemini_fake, tmp_path_factory.mktemp("logs"))
    stack.env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # milliseconds: spans arrive at once
    }
    try:
        for worker in WORKERS:
            stack.start_worker(worker)
        _, port = stack.start_gateway("gw", GATEWAY_ID="tracing")
        yield port
    finally:
        stack.stop_all()
        asyncio.run(delete_topology(prefix, [f"{prefix}.reply.tracing"]))


async def ask(port: int, frame: dict[str, str], session: str) -> tuple[str, list[Any]]:
    """One question over protocol 2; its turn id and its frames up to `done`."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, protocol="2", session=session)) as ws,
    ):
        await ws.send_str(json.dumps(frame))
        frames: list[Any] = []
        while True:
            message = await ws.receive(timeout=20)
            if message.type is aiohttp.WSMsgType.BINARY:
                continue
            got = json.loads(message.data)
            frames.append(got)
            if got["type"] in ("done", "error"):
                break
    assert frames[-1]["type"] == "done", frames[-1]
    (turn_id,) = {f["turn_id"] for f in frames if f["type"] == "turn"}
    return turn_id, frames


async def trace_of(
    collector: FakeOtlpCollector, turn_id: str, tts_spans: int
) -> dict[str, list[CollectedSpan]]:
    """The spans of the turn's trace by name, once the turn span and every tts span are in."""
    deadline = time.monotonic() + 15
    while True:
        spans = collector.collected()
        roots = [s for s in spans if s.attributes.get("uhrwerk.turn_id") == turn_id]
        turn = [s for s in roots if s.name == "turn"]
        if turn:
            by_name: dict[str, list[CollectedSpan]] = {}
            for span in spans:
                if span.trace_id == turn[0].trace_id:
                    by_name.setdefault(span.name, []).append(span)
            if len(by_name.get("tts", [])) >= tts_spans:
                return by_name
        assert time.monotonic() < deadline, [(s.service, s.name) for s in spans]
        await asyncio.sleep(0.1)


def sentence_count(frames: list[Any]) -> int:
    return sum(1 for f in frames if f["type"] == "sentence")


def check_answer(
    by_name: dict[str, list[CollectedSpan]], parent: CollectedSpan, turn_id: str, sentences: int
) -> None:
    """llm under `parent`, one tts per sentence under llm, with their attributes."""
    (llm,) = by_name["llm"]
    assert (llm.service, llm.kind, llm.parent_span_id) == ("llm_worker", "CONSUMER", parent.span_id)
    assert llm.attributes["uhrwerk.turn_id"] == turn_id
    assert llm.attributes["uhrwerk.outcome"] == "ok"
    assert llm.attributes["uhrwerk.source"] == "model"
    assert llm.attributes["uhrwerk.tokens"] >= 1
    # Gemini's own count (the fake's: a token per word), from its usage metadata.
    assert llm.attributes["uhrwerk.output_tokens"] >= 1
    assert llm.attributes["uhrwerk.prompt_tokens"] > llm.attributes["uhrwerk.output_tokens"]
    assert llm.attributes["uhrwerk.sentences"] == sentences
    assert llm.attributes["uhrwerk.characters"] > 0
    tts = by_name["tts"]
    assert len(tts) == sentences
    for span in tts:
        assert (span.service, span.kind, span.parent_span_id) == (
            "tts_worker",
            "CONSUMER",
            llm.span_id,
        )
        assert span.attributes["uhrwerk.outcome"] == "ok"
        assert span.attributes["uhrwerk.characters"] > 0
        assert span.attributes["uhrwerk.audio_bytes"] > 0
        assert span.attributes["uhrwerk.backend"]
        assert not span.error


async def test_a_typed_turn_is_one_trace(traced: int, collector: FakeOtlpCollector) -> None:
    session = "typed-session-1234567"
    turn_id, frames = await ask(traced, {"type": "text", "message": "Erzähl mir von Rom."}, session)
    by_name = await trace_of(collector, turn_id, sentence_count(frames))
    assert set(by_name) == {"turn", "llm", "tts"}
    (turn,) = by_name["turn"]
    assert (turn.service, turn.kind, turn.parent_span_id) == ("gateway", "SERVER", "")
    assert turn.attributes["uhrwerk.kind"] == "text"
    assert turn.attributes["uhrwerk.protocol"] == 2
    assert turn.attributes["uhrwerk.outcome"] == "delivered"
    assert turn.attributes["uhrwerk.session"] == session_hash(session)
    assert not turn.error
    check_answer(by_name, turn, turn_id, sentence_count(frames))


async def test_a_spoken_turn_is_one_trace_through_stt(
    traced: int, collector: FakeOtlpCollector
) -> None:
    clip = webm_opus("Wie wird das Wetter morgen", seconds=2.0)
    frame = {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}
    turn_id, frames = await ask(traced, frame, "spoken-session-123456")
    by_name = await trace_of(collector, turn_id, sentence_count(frames))
    assert set(by_name) == {"turn", "stt", "llm", "tts"}
    (turn,) = by_name["turn"]
    assert turn.attributes["uhrwerk.kind"] == "audio"
    (stt,) = by_name["stt"]
    assert (stt.service, stt.kind, stt.parent_span_id) == ("stt_worker", "CONSUMER", turn.span_id)
    assert stt.attributes["uhrwerk.audio_bytes"] == len(clip)
    assert stt.attributes["uhrwerk.characters"] > 0
    assert stt.attributes["uhrwerk.language"]
    assert stt.attributes["uhrwerk.outcome"] == "ok"
    check_answer(by_name, stt, turn_id, sentence_count(frames))
