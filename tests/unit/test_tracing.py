"""shared.tracing without a broker: when it is on, what the headers carry, and that the
contract's reader ignores them."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator

import aio_pika
import pamqp.decode
import pamqp.encode
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN, SpanKind, StatusCode

from gateway.turns import PendingTurn, PendingTurns
from shared import tracing
from shared.contracts import TextTurn, decode, encode

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),  # compose's ${VAR:-}
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
            False,
        ),
    ],
)
def test_tracing_is_on_only_with_an_endpoint(environ: dict[str, str], on: bool) -> None:
    assert tracing.enabled(environ) is on


def test_setup_without_an_endpoint_installs_nothing() -> None:
    assert tracing.setup("test", {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) is False
    with tracing.consumed("llm", {}) as span:
        assert span is INVALID_SPAN
        tracing.annotate(characters=3)  # a no-op, not an error
    headers: dict[str, object] = {}
    tracing.inject(headers)
    assert headers == {}


def test_decode_ignores_the_trace_headers() -> None:
    turn = TextTurn(
        turn_id="t1",
        session_id="s1",
        reply_to="q",
        deadline_ms=int(time.time() * 1000) + 30_000,
        text="Hallo",
    )
    message = encode(turn)
    headers = dict(message.headers or {})
    headers |= {"traceparent": TRACEPARENT, "tracestate": "a=1", "x-unknown": 7}
    # Through AMQP's own wire encoding, as a worker receives them.
    _, wire = pamqp.decode.field_table(pamqp.encode.field_table(headers))
    assert decode(aio_pika.Message(message.body, headers=wire), TextTurn) == turn


def test_consumed_continues_the_incoming_trace(exporter: InMemorySpanExporter) -> None:
    incoming = {"traceparent": TRACEPARENT.encode(), "session_id": b"s1"}
    with tracing.consumed("stt", incoming, "t1"):
        tracing.annotate(audio_bytes=10)
        out: dict[str, object] = {}
        tracing.inject(out)
    (span,) = exporter.get_finished_spans()
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACEPARENT.split("-")[1]
    assert format(span.parent.span_id, "016x") == TRACEPARENT.split("-")[2]
    assert span.kind is SpanKind.CONSUMER
    assert span.attributes is not None
    assert span.attributes["uhrwerk.audio_bytes"] == 10
    assert span.attributes["uhrwerk.turn_id"] == "t1"
    assert span.attributes["uhrwerk.session"] == tracing.session_hash("s1")
    assert str(out["traceparent"]).split("-")[2] == format(span.context.span_id, "016x")


def test_a_turn_span_is_the_root_and_ends_with_its_outcome(
    exporter: InMemorySpanExporter,
) -> None:
    span = tracing.start_turn("t1", "s1", 2, "audio")
    with tracing.current(span):
        headers: dict[str, object] = {}
        tracing.inject(headers)
    assert trace.get_current_span() is INVALID_SPAN
    tracing.end_turn(span, "timeout", "timeout")
    (ended,) = exporter.get_finished_spans()
    assert ended.parent is None and ended.kind is SpanKind.SERVER
    assert ended.attributes is not None
    assert ended.attributes["uhrwerk.outcome"] == "timeout"
    assert ended.attributes["uhrwerk.kind"] == "audio"
    assert ended.status.status_code is StatusCode.ERROR
    assert ended.context is not None
    assert str(headers["traceparent"]).split("-")[2] == format(ended.context.span_id, "016x")


class Watch:
    """A watch's connection as `PendingTurns` sees it: what it was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, frame: str) -> None:
        self.sent.append(frame)

    async def send_with_audio(self, frame: str, audio: bytes) -> None:
        self.sent.append(frame)


@pytest.mark.parametrize(
    ("outcome", "error"), [("cancelled", False), ("handed_over", False), ("timeout", True)]
)
async def test_a_turn_let_go_of_ends_its_span_with_that_outcome(
    exporter: InMemorySpanExporter, outcome: str, error: bool
) -> None:
    """A barge-in's turn is "cancelled"; one a draining gateway lets go of (it goes on
    in the pipeline, resumable elsewhere) "handed_over"; neither is an error."""
    pending = PendingTurns()
    span = tracing.start_turn("t1", "s1", 2, "text")
    pending.add(PendingTurn("t1", "s1", "anna", "c1", Watch(), protocol=2, span=span), 30)
    if outcome == "timeout":
        pending._expire("t1")
    else:
        assert await pending.cancel("t1", outcome=outcome) is not None
    (ended,) = exporter.get_finished_spans()
    assert ended.attributes is not None
    assert ended.attributes["uhrwerk.outcome"] == outcome
    assert (ended.status.status_code is StatusCode.ERROR) is error
    assert await pending.cancel("t1") is None  # ended once


async def test_counted_sets_the_pieces_a_stream_gave(exporter: InMemorySpanExporter) -> None:
    async def pieces() -> AsyncIterator[str]:
        for piece in ("Es", " ist", " zwölf."):
            yield piece

    with tracing.consumed("llm", {}):
        assert [p async for p in tracing.counted(pieces(), "tokens")] == ["Es", " ist", " zwölf."]
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["uhrwerk.tokens"] == 3


async def test_off_counted_is_the_stream_itself() -> None:
    async def pieces() -> AsyncGenerator[str, None]:
        yield "Es"

    stream = pieces()
    assert tracing.counted(stream, "tokens") is stream
    assert tracing.current(INVALID_SPAN).__enter__() is INVALID_SPAN
    await stream.aclose()
