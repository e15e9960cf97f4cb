"""Time to first audio: protocol 2's streamed sentences against protocol 1's one reply,
and how fast a barge-in takes effect.

    python -m bench.ttfa [--turns 20]

The four services run as processes against the local RabbitMQ and Redis, with the
test suite's Google fakes made to behave like the real services: Gemini takes 300 ms
to its first token and then streams 40 tokens/s; each Text-to-Speech call takes
150 ms. The answer is four sentences of about 80 words. Both protocols run against
the very same backends in the same run; protocol 1's complete reply is what the
original server gave (the baseline).

Barge-in: a protocol 2 client cancels after the first sentence; measured are cancel →
`cancelled` at the watch, cancel → last frame of the turn at the watch, and cancel →
the llm stage abandoning Gemini's stream (seen by the fake, to within one token).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.conftest import delete_topology
from tests.integration.stack import Stack, ws_url

ANSWER = (
    "Rom ist die Hauptstadt Italiens und liegt am Tiber, mitten in der Region Latium, "
    "nicht weit vom Meer. "
    "Die Stadt wurde der Sage nach im Jahr 753 vor Christus von Romulus gegründet, der "
    "seinen Bruder Remus im Streit getötet haben soll. "
    "Heute leben dort fast drei Millionen Menschen, und jedes Jahr kommen viele Millionen "
    "Besucher aus aller Welt, um die Altstadt zu sehen. "
    "Berühmt sind vor allem das Kolosseum, das Forum Romanum, der Petersdom im Vatikan "
    "und die vielen Brunnen."
)
FIRST_TOKEN_S = 0.3
TOKENS_PER_S = 40
TTS_S = 0.15
TARGET_S = 0.9
TARGET_SPEEDUP = 2.5


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def protocol_1(port: int) -> float:
    """Seconds from the question to the complete reply (when the watch can play)."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port)) as ws,
    ):
        started = time.perf_counter()
        await ws.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
        reply = json.loads((await ws.receive(timeout=60)).data)
        assert "audio_base64" in reply, reply
        return time.perf_counter() - started


async def protocol_2(port: int) -> tuple[float, float]:
    """(first audio, done) in seconds: the first sentence's MP3 can play at once."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, protocol="2")) as ws,
    ):
        started = time.perf_counter()
        await ws.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
        first = 0.0
        while True:
            message = await ws.receive(timeout=60)
            if message.type is aiohttp.WSMsgType.BINARY and not first:
                first = time.perf_counter() - started
            elif message.type is aiohttp.WSMsgType.TEXT:
                frame = json.loads(message.data)
                if frame.get("type") == "done":
                    return first, time.perf_counter() - started
                assert frame.get("type") != "error", frame


async def barge_in(port: int, gemini: FakeGemini) -> tuple[float, float, float]:
    """(cancel → `cancelled`, cancel → last frame of the turn, cancel → llm stopped)."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, protocol="2")) as ws,
    ):
        await ws.send_str(json.dumps({"type": "text", "message": "Erzähl mir von Rom."}))
        while (await ws.receive(timeout=60)).type is not aiohttp.WSMsgType.BINARY:
            pass
        abandoned = len(gemini.streams_abandoned)
        cancelled_at = time.monotonic()
        await ws.send_str(json.dumps({"type": "cancel"}))
        last = confirmed = 0.0
        while True:
            try:
                message = await ws.receive(timeout=1.0)
            except TimeoutError:
                break
            last = time.monotonic()
            text = message.type is aiohttp.WSMsgType.TEXT
            if text and json.loads(message.data).get("type") == "cancelled":
                confirmed = last
        for _ in range(100):
            if len(gemini.streams_abandoned) > abandoned:
                break
            await asyncio.sleep(0.01)
        stopped = gemini.streams_abandoned[-1] if gemini.streams_abandoned else float("nan")
        return confirmed - cancelled_at, last - cancelled_at, stopped - cancelled_at


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    grpc, gemini = FakeGoogleGrpc().start_in_background(), FakeGemini().start_in_background()
    gemini.script = ANSWER
    gemini.first_token_s = FIRST_TOKEN_S
    gemini.token_interval_s = 1 / TOKENS_PER_S
    grpc.synthesize_s = (TTS_S, TTS_S)
    prefix = f"ttfa{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(prefix, grpc, gemini, Path(tmp))
        try:
            for worker in ("stt_worker", "llm_worker", "tts_worker"):
                stack.start_worker(worker)
            stack.start_worker("tts_worker", "tts_worker_2")
            _, port = stack.start_gateway("gateway", GATEWAY_ID="ttfa")
            await protocol_1(port)  # warm-up
            whole = [await protocol_1(port) for _ in range(args.turns)]
            streamed = [await protocol_2(port) for _ in range(args.turns)]
            cancels = [await barge_in(port, gemini) for _ in range(args.turns)]
        finally:
            stack.stop_all()
            await delete_topology(prefix, [f"{prefix}.reply.ttfa"])
            grpc.stop_background()
            gemini.stop_background()

    def row(name: str, seconds: list[float]) -> None:
        ms = [s * 1000 for s in seconds]
        print(f"{name:<48} {statistics.median(ms):>8.0f} {p95(ms):>8.0f}")

    print(
        f"simulated backends: first token {FIRST_TOKEN_S * 1000:.0f} ms, {TOKENS_PER_S} tokens/s, "
        f"TTS {TTS_S * 1000:.0f} ms per call; {len(ANSWER.split())} words in 4 sentences; "
        f"{args.turns} turns each"
    )
    print(f"{'measure':<48} {'p50 ms':>8} {'p95 ms':>8}")
    row("baseline: protocol 1, complete reply", whole)
    row("protocol 2, first audio", [first for first, _ in streamed])
    row("protocol 2, whole answer (done)", [done for _, done in streamed])
    row("barge-in: cancel → `cancelled` at the watch", [c[0] for c in cancels])
    row("barge-in: cancel → last frame of the turn", [c[1] for c in cancels])
    row("barge-in: cancel → llm stops generating", [c[2] for c in cancels])
    first = statistics.median(f for f, _ in streamed)
    speedup = statistics.median(whole) / first
    verdict = "met" if first <= TARGET_S and speedup >= TARGET_SPEEDUP else "MISSED"
    print(
        f"first audio {speedup:.1f}x sooner than protocol 1 (target ≥ {TARGET_SPEEDUP}x) and "
        f"{first * 1000:.0f} ms (target ≤ {TARGET_S * 1000:.0f} ms): {verdict}"
    )


if __name__ == "__main__":
    asyncio.run(main())
