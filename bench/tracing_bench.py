"""What tracing costs a turn, off and on: `python -m bench.tracing_bench` (40 s).

One typed turn answered in two sentences, as the services see it, in one process:
the gateway's turn span and its publish, the llm stage's span with a 20-piece model
stream counted, two tts spans, every event published with its headers injected and
read back. Baseline, in the same run: the same turn's events encoded and decoded
(`shared.contracts`), work every turn does anyway. Off: the calls with nothing
installed (the default). On: the SDK with its batch processor and an exporter that
encodes each batch as OTLP protobuf and drops it (the HTTP post is not counted).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from shared import tracing
from shared.contracts import Envelope, Reply, SpeakRequest, TextTurn, decode, encode

TURNS = 2000
ROUNDS = 5
PIECES = 20


class EncodingExporter(SpanExporter):
    """Does the exporter's CPU work (protobuf encoding), sends nothing."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def events() -> tuple[TextTurn, list[SpeakRequest], list[Reply]]:
    carried: dict[str, Any] = {
        "turn_id": "0" * 32,
        "session_id": "s" * 22,
        "reply_to": "uhrwerk.reply.bench",
        "deadline_ms": int((time.time() + 30) * 1000),
    }
    turn = TextTurn(**carried, text="Erzähl mir von Rom.")
    speak = [
        SpeakRequest(**carried, seq=i, final=i == 1, text=t)
        for i, t in enumerate(("Rom liegt in Italien.", "Es ist die Hauptstadt."))
    ]
    replies = [
        Reply(**carried, seq=s.seq, final=s.final, text=s.text, audio=b"\xff" * 3000) for s in speak
    ]
    return turn, speak, replies


async def model(pieces: int) -> AsyncIterator[str]:
    for _ in range(pieces):
        yield "x"


def hop(event: Envelope, traced: bool) -> dict[str, object]:
    """Encode (and inject), as `Publisher.publish` does; the headers a consumer gets."""
    message = encode(event)
    assert message.headers is not None
    if traced:
        tracing.inject(message.headers)
    decode(message, type(event))
    return dict(message.headers)


async def one_turn(traced: bool) -> None:
    turn, speak, replies = events()
    span = tracing.start_turn(turn.turn_id, turn.session_id, 2, "text") if traced else None
    if span is not None:
        with tracing.current(span):
            headers = hop(turn, traced)
    else:
        headers = hop(turn, traced)
    downstream = []
    context = tracing.consumed("llm", headers, turn.turn_id) if traced else None
    if context is not None:
        with context:
            async for _ in tracing.counted(model(PIECES), "tokens"):
                pass
            tracing.annotate(source="model", sentences=2, characters=40)
            downstream = [hop(s, traced) for s in speak]
    else:
        async for _ in model(PIECES):
            pass
        downstream = [hop(s, traced) for s in speak]
    for headers, reply in zip(downstream, replies, strict=True):
        if traced:
            with tracing.consumed("tts", headers, turn.turn_id):
                tracing.annotate(characters=20, audio_bytes=3000, backend="null")
                hop(reply, traced)
        else:
            hop(reply, traced)
    if span is not None:
        tracing.end_turn(span, "delivered", sentences=2)


async def per_turn_us(traced: bool) -> float:
    """The mean wall time per turn over TURNS turns, in microseconds."""
    started = time.perf_counter()
    for _ in range(TURNS):
        await one_turn(traced)
    return (time.perf_counter() - started) / TURNS * 1e6


async def main() -> None:
    exporter = EncodingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))

    def off() -> None:
        tracing.install(None)

    def on() -> None:
        tracing.install(provider)

    measure: list[tuple[str, Callable[[], None], bool]] = [
        ("baseline (no tracing calls)", off, False),
        ("off", off, True),
        ("on", on, True),
    ]
    await per_turn_us(False)  # warm-up
    rounds: dict[str, list[float]] = {name: [] for name, _, _ in measure}
    for _ in range(ROUNDS):  # interleaved, so the machine's load hits all three alike
        for name, prepare, traced in measure:
            prepare()
            rounds[name].append(await per_turn_us(traced))
    results = {name: statistics.median(values) for name, values in rounds.items()}
    provider.force_flush()
    provider.shutdown()
    tracing.install(None)
    base = results["baseline (no tracing calls)"]
    print(f"median of {ROUNDS} interleaved rounds of {TURNS} turns")
    print(f"a turn: 4 spans, 5 events, {PIECES} model pieces")
    print(f"{'':30} {'us/turn':>9} {'x baseline':>11} {'added us':>9}")
    for name, us in results.items():
        print(f"{name:30} {us:9.1f} {us / base:11.2f} {us - base:9.1f}")
    print(f"spans exported (encoded): {exporter.spans} of {4 * TURNS * ROUNDS}")


if __name__ == "__main__":
    asyncio.run(main())
