"""What keeping answers for `resume` costs (`shared.results`), against the real Redis.

    python -m bench.results_bench [--samples 2000] [--sentences 4] [--kbps 48]

Per turn the gateway writes one small record before publishing (`begin`), and the tts
stage writes every sentence's reply with its MP3 before publishing it (`add`). A resume
reads the whole turn back (`load`). The baseline in the same run is one Redis PING. The
MP3s are random bytes of the size a 2.5 s sentence has at `--kbps` (the local voices
encode at 48 kbit/s; Google's MP3 is 32 kbit/s), since Redis does not care what is in them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

from bench.history_bench import measure, percentile
from shared.contracts import Reply
from shared.redis_client import redis_client
from shared.results import ResultStore, result_key

SENTENCE_S = 2.5


async def run(samples: int, sentences: int, kbps: int) -> None:
    client = redis_client(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    store = ResultStore(client, prefix, ttl_s=120)
    mp3 = os.urandom(int(kbps * 1000 / 8 * SENTENCE_S))
    turns = [uuid.uuid4().hex for _ in range(samples + 100)]

    def reply(turn: int, seq: int) -> Reply:
        return Reply(
            turn_id=turns[turn],
            session_id="s" * 22,
            identity="bench",
            reply_to="",
            deadline_ms=0,
            seq=seq,
            final=seq == sentences - 1,
            text="Ein Satz von ungefähr sechzig Zeichen, wie ihn Uhrwerk spricht.",
            audio=mp3,
            timings={"llm": 800.0, "tts": 150.0},
        )

    async def ping(_: int) -> None:
        await client.ping()

    async def begin(i: int) -> None:
        await store.begin(turns[i], "bench", "s" * 22, 0, False)

    async def add(i: int) -> None:
        await store.add(reply(i, 0))

    async def fill(i: int) -> None:
        for seq in range(1, sentences):
            await store.add(reply(i, seq))

    async def load(i: int) -> None:
        stored = await store.load(turns[i])
        assert stored is not None and stored.complete

    try:
        rows = [("baseline: Redis PING", await measure(ping, samples))]
        rows.append(("gateway: begin (identity, deadline)", await measure(begin, samples)))
        rows.append(
            (f"tts: add one sentence ({len(mp3) // 1000} kB MP3)", await measure(add, samples))
        )
        for i in range(-100, samples):
            await fill(i)
        rows.append((f"resume: load a {sentences}-sentence turn", await measure(load, samples)))
        used = await client.memory_usage(result_key(prefix, turns[0])) or 0
    finally:
        keys = [result_key(prefix, t) for t in turns]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
        await client.aclose()
    base = statistics_p50(rows[0][1])
    print("| operation | p50 ms | p99 ms | × PING |\n|---|---|---|---|")  # noqa: RUF001
    for name, timings in rows:
        p50 = statistics_p50(timings)
        print(f"| {name} | {p50:.3f} | {percentile(timings, 0.99):.3f} | {p50 / base:.1f} |")
    print(f"\nRedis memory of one kept {sentences}-sentence turn: {used / 1000:.0f} kB")


def statistics_p50(timings: list[float]) -> float:
    return percentile(timings, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--sentences", type=int, default=4)
    parser.add_argument("--kbps", type=int, default=48)
    args = parser.parse_args()
    asyncio.run(run(args.samples, args.sentences, args.kbps))


if __name__ == "__main__":
    main()
