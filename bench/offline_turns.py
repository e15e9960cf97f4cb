"""The offline pipeline, end to end: a spoken German question to a spoken answer.

    python -m bench.offline_turns [--turns 20]

Starts the four services on their offline backends against the local RabbitMQ and
Redis, sends ~3 s German questions recorded as WebM/Opus (spoken by pico2wave) over the
watch protocol, in turn: knowledge questions the model answers (no local intent takes
them; the weather question this bench asked before is now answered without the model,
honestly, on a backend without live data). It reports time to transcript (stt), to
answer text (stt+llm) and to MP3 (the gateway's total), p50/p95, and each service's
peak memory (VmHWM). Protocol 2 (answers streamed sentence by sentence): time to the
first sentence's MP3 (target: p50 ≤ 1.5 s). Baselines in the same run: the questions'
mean length (real time), and typed turns of the same words, which skip speech
recognition. Then the local intents: "Wie spät ist es?" typed and spoken, answered
from the clock without the model (target: typed, under 300 ms to MP3 at p50).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from llm_worker import intents
from shared.model_files import default_cache_dir
from tests.integration.conftest import delete_topology
from tests.integration.stack import WORKERS, Stack, ws_url
from tests.speech import spoken_webm

QUESTIONS = (
    "Wie hoch ist der höchste Berg in Deutschland?",
    "Wer hat die Relativitätstheorie entwickelt?",
    "Warum ist der Himmel am Tag eigentlich blau?",
)
TIME_QUESTION = "Wie spät ist es?"
FOLLOW_UP_PAUSE_S = 4.0
TIME_TARGET_MS = 300
FIRST_AUDIO_TARGET_MS = 1500


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_turns(
    port: int, frames: list[dict[str, str]], turns: int, answers: dict[str, str] | None = None
) -> list[dict[str, float]]:
    """Protocol 1 timings of `turns` turns, asking `frames` in turn; with `answers`,
    what each question (its transcript) was answered first."""
    timings = []
    async with aiohttp.ClientSession() as http:
        for n in range(turns):
            # A fresh connection per turn: a new session, so memory does not grow.
            async with http.ws_connect(ws_url(port)) as ws:
                await ws.send_str(json.dumps(frames[n % len(frames)]))
                reply = json.loads((await ws.receive(timeout=120)).data)
            if "error" in reply:
                raise RuntimeError(reply)
            timings.append(reply["timings"])
            if answers is not None:
                answers.setdefault(reply.get("transcript", ""), reply["text_response"])
    return timings


async def first_audio(port: int, frames: list[dict[str, str]], turns: int) -> list[float]:
    """Protocol 2: milliseconds from sending the question to its first sentence's MP3,
    each the first question of a new session."""
    times = []
    async with aiohttp.ClientSession() as http:
        for n in range(turns):
            async with http.ws_connect(ws_url(port, protocol="2")) as ws:
                times.append(await one_streamed(ws, frames[n % len(frames)]))
    return times


async def follow_ups(port: int, frames: list[dict[str, str]], turns: int) -> list[float]:
    """Protocol 2: first audio of a session's second question, asked FOLLOW_UP_PAUSE_S
    after the first answer was complete (while a watch would be playing it)."""
    times = []
    async with aiohttp.ClientSession() as http:
        for n in range(turns):
            async with http.ws_connect(ws_url(port, protocol="2")) as ws:
                await one_streamed(ws, frames[n % len(frames)])
                await asyncio.sleep(FOLLOW_UP_PAUSE_S)
                times.append(await one_streamed(ws, frames[(n + 1) % len(frames)]))
    return times


async def one_streamed(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, str]) -> float:
    """Ask `frame`, read the turn to its end; milliseconds to its first MP3."""
    started = time.perf_counter()
    await ws.send_str(json.dumps(frame))
    first = 0.0
    while True:
        message = await ws.receive(timeout=120)
        if message.type is aiohttp.WSMsgType.BINARY and not first:
            first = (time.perf_counter() - started) * 1000
        elif message.type is aiohttp.WSMsgType.TEXT:
            kind = json.loads(message.data).get("type")
            if kind == "error":
                raise RuntimeError(message.data)
            if kind == "done":
                return first


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    for question in QUESTIONS:  # each must reach the model, as on the offline backend
        assert intents.answer(question, datetime.now(UTC), "de-DE", live_data=False) is None
    clips = [spoken_webm(question, "de-DE") for question in QUESTIONS]
    time_clip = spoken_webm(TIME_QUESTION, "de-DE")
    from shared.audio import read_mono_48k

    clip_s = statistics.mean(len(read_mono_48k(clip)) / 48000 for clip in clips)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(prefix, None, None, Path(tmp))
        stack.env |= {"MODEL_DIR": str(default_cache_dir()), "HOME": tmp, "TURN_TIMEOUT_S": "120"}
        try:
            for worker in WORKERS:
                stack.start_worker(worker, timeout=300)
            _, port = stack.start_gateway("gateway", GATEWAY_ID="bench")
            audio = [
                {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}
                for clip in clips
            ]
            await run_turns(port, audio, 2)  # warm-up, not counted
            answers: dict[str, str] = {}
            spoken = await run_turns(port, audio, args.turns, answers)
            typed = await run_turns(
                port, [{"type": "text", "message": q} for q in QUESTIONS], args.turns
            )
            streamed = await first_audio(port, audio, args.turns)
            followed = await follow_ups(port, audio, args.turns)
            clock_typed = await run_turns(
                port, [{"type": "text", "message": TIME_QUESTION}], args.turns
            )
            clock_spoken = await run_turns(
                port,
                [{"type": "audio", "data": base64.b64encode(time_clip).decode(), "format": "webm"}],
                args.turns,
            )
            memory = {
                name: peak_memory_mb(stack.services[name].process.pid)
                for name in (*WORKERS, "gateway")
            }
        finally:
            stack.stop_all()
            await delete_topology(prefix, [f"{prefix}.reply.bench"])

    rows = [
        ("baseline: the questions' mean length", [clip_s * 1000] * len(spoken)),
        ("time to transcript (stt)", [t["stt"] for t in spoken]),
        ("time to answer text (stt+llm)", [t["stt"] + t["llm"] for t in spoken]),
        ("time to MP3 (total at gateway)", [t["total"] for t in spoken]),
        ("protocol 2: time to first audio", streamed),
        (f"  same, follow-up {FOLLOW_UP_PAUSE_S:.0f} s after", followed),
        ("baseline: typed turn, time to MP3", [t["total"] for t in typed]),
        ("time question typed → MP3 (clock)", [t["total"] for t in clock_typed]),
        ("time question spoken → MP3 (clock)", [t["total"] for t in clock_spoken]),
    ]
    print(f"offline pipeline, {args.turns} turns, questions {clip_s:.2f} s on average:")
    for question in QUESTIONS:
        print(f"  {question!r}")
    print(f"{'measure':<36} {'p50 ms':>9} {'p95 ms':>9} {'x real time':>12}")
    for name, values in rows:
        p50 = statistics.median(values)
        print(f"{name:<36} {p50:>9.0f} {p95(values):>9.0f} {p50 / (clip_s * 1000):>12.2f}")
    clock_p50 = statistics.median(t["total"] for t in clock_typed)
    verdict = "met" if clock_p50 < TIME_TARGET_MS else "MISSED"
    print(f"typed time question: p50 {clock_p50:.0f} ms, target < {TIME_TARGET_MS} ms: {verdict}")
    first_p50 = statistics.median(streamed)
    verdict = "met" if first_p50 <= FIRST_AUDIO_TARGET_MS else "MISSED"
    print(
        f"spoken question, first audio: p50 {first_p50:.0f} ms, "
        f"target ≤ {FIRST_AUDIO_TARGET_MS} ms: {verdict}"
    )
    print("what the spoken questions were heard as and answered (first of each):")
    for heard, answer in answers.items():
        print(f"  {heard!r} → {answer!r}")
    print(f"{'peak memory (VmHWM)':<36} " + "  ".join(f"{k} {v:.0f} MB" for k, v in memory.items()))


if __name__ == "__main__":
    asyncio.run(main())
