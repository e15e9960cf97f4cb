"""Memory cost per turn: reading and writing the history at N remembered turns.

    python -m bench.history_bench [--turns 20] [--samples 2000]

Measures, against the real Redis, what the llm stage adds to every turn for memory:
taking the session lease, reading the history, writing the new exchange, releasing
the lease. The baseline in the same run is one Redis PING: the floor any Redis-backed
memory pays per round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from shared.history import HistoryStore, Limits
from shared.redis_client import redis_client
from shared.session_lock import SessionLocks


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(step: Callable[[int], Awaitable[object]], samples: int) -> list[float]:
    for i in range(min(100, samples)):  # warm up connections and scripts
        await step(-1 - i)
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        await step(i)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20, help="remembered turns")
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    client = redis_client(url)
    history = HistoryStore(client, prefix, Limits(max_turns=args.turns, max_chars=10**6))
    locks = SessionLocks(client, prefix)
    session = "bench-session"
    question = "Wie wird das Wetter morgen in München?"
    answer = "Morgen wird es in München sonnig mit bis zu zweiundzwanzig Grad."
    for i in range(args.turns):  # a session that already remembers N turns
        await history.append("anonymous", session, f"seed{i}", question, answer)

    async def ping(_: int) -> None:
        await client.ping()

    async def read(_: int) -> None:
        await history.load("anonymous", session)

    async def write(i: int) -> None:
        await history.append("anonymous", session, f"w{i}", question, answer)

    async def turn(i: int) -> None:
        async with locks.hold("anonymous", session, f"t{i}", time.time() + 5):
            await history.load("anonymous", session)
            await history.append("anonymous", session, f"t{i}", question, answer)

    rows = [
        ("baseline: Redis PING", await measure(ping, args.samples)),
        (f"read history ({args.turns} turns)", await measure(read, args.samples)),
        ("write exchange (Lua, capped)", await measure(write, args.samples)),
        ("whole turn: lease+read+write+release", await measure(turn, args.samples)),
    ]
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()

    base = statistics.median(rows[0][1])
    print(f"history per turn, {args.samples} samples each, Redis at {url}")
    print(f"{'operation':<40} {'p50 ms':>8} {'p99 ms':>8} {'x PING':>8}")
    for name, samples in rows:
        p50 = statistics.median(samples)
        print(f"{name:<40} {p50:>8.3f} {percentile(samples, 0.99):>8.3f} {p50 / base:>8.1f}")
    whole = statistics.median(rows[-1][1])
    print(f"target p50 < 1 ms for the whole turn: {'met' if whole < 1 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
