"""Two versions of the pipeline side by side, under the same load at the same moment.

    git archive <commit> | tar -x -C /tmp/a     (and the other version into /tmp/b)
    python -m bench.pipeline_ab /tmp/a /tmp/b [--turns 300] [--watches 32 --seconds 15]

`bench.pipeline` measures one version against the raw broker floor; on a machine
others are using, two of its runs minutes apart differ by more than a change to the
pipeline does. Here both versions' services run at once (each its own four processes
under its own topology prefix, started from its tree with the null backends, as in
`bench.pipeline`): with `--watches 1` their turns alternate, one at a time (latency);
with more, each version gets that many watches for `--seconds`, all at once, and the
cheaper version answers more of them (throughput at equal load).
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
from pathlib import Path

import aiohttp

import tests.integration.stack as stacks
from bench.pipeline import NULL_BACKENDS, UNLIMITED
from shared.topology import Topology
from tests.fakes.audio import webm_opus
from tests.integration.conftest import delete_topology

WARM_UP_TURNS = 20
GATEWAY_ID = "pipeab"


def start(tree: Path, logs: Path) -> tuple[stacks.Stack, int]:
    """The four services of the version in `tree` (its modules: cwd is the tree)."""
    stacks.ROOT = tree  # Service starts `python -m <module>` with cwd=ROOT
    stack = stacks.Stack(f"pipeab{uuid.uuid4().hex[:8]}", None, None, logs)
    stack.env |= NULL_BACKENDS
    for worker in stacks.WORKERS:
        stack.start_worker(worker, name=f"{tree.name}-{worker}")
    _, port = stack.start_gateway(f"{tree.name}-gateway", GATEWAY_ID=GATEWAY_ID, **UNLIMITED)
    return stack, port


async def compare(trees: list[Path], turns: int, watches: int, seconds: float) -> None:
    clip = webm_opus(None, seconds=1.0)
    frame = json.dumps({"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"})
    started: list[stacks.Stack] = []
    with tempfile.TemporaryDirectory(prefix="uhrwerk-pipeab-") as folder:
        try:
            ports = []
            for tree in trees:
                stack, port = start(tree, Path(folder))
                started.append(stack)
                ports.append(port)
            latencies: list[list[float]] = [[] for _ in trees]
            async with aiohttp.ClientSession() as http:
                sockets = [
                    [await http.ws_connect(stacks.ws_url(port)) for _ in range(watches)]
                    for port in ports
                ]

                async def turn(version: int, watch: int, counted: bool = True) -> None:
                    ws = sockets[version][watch]
                    began = time.perf_counter()
                    await ws.send_str(frame)
                    reply = json.loads((await ws.receive(timeout=30)).data)
                    if "audio_base64" not in reply:
                        raise RuntimeError(f"not an answer: {reply}")
                    if counted:
                        latencies[version].append(time.perf_counter() - began)

                for version in range(len(trees)):
                    for _ in range(WARM_UP_TURNS):
                        await turn(version, 0, counted=False)
                if watches == 1:
                    for n in range(turns):  # ABAB… then BABA…: neither always goes first
                        order = range(len(trees)) if n % 2 == 0 else reversed(range(len(trees)))
                        for version in order:
                            await turn(version, 0)
                else:
                    stop = time.perf_counter() + seconds

                    async def loop(version: int, watch: int) -> None:
                        while time.perf_counter() < stop:
                            await turn(version, watch)

                    await asyncio.gather(
                        *(loop(v, w) for v in range(len(trees)) for w in range(watches))
                    )
            print(f"{watches} watch(es) per version" + ("" if watches == 1 else f", {seconds} s"))
            print(f"{'version':<30} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8}")
            for tree, measured in zip(trees, latencies, strict=True):
                ordered = sorted(measured)
                p50 = statistics.median(ordered) * 1000
                p95 = ordered[round(0.95 * (len(ordered) - 1))] * 1000
                print(f"{tree!s:<30} {len(ordered):>6} {p50:>8.1f} {p95:>8.1f}")
        finally:
            for stack in started:
                stack.stop_all()
                replies = Topology(stack.prefix).reply_queue(GATEWAY_ID)
                await delete_topology(stack.prefix, [replies])


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", type=Path, nargs=2, help="the two versions' source trees")
    parser.add_argument("--turns", type=int, default=300, help="per version, with --watches 1")
    parser.add_argument("--watches", type=int, default=1, help="per version, at once")
    parser.add_argument("--seconds", type=float, default=15.0, help="with --watches > 1")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    asyncio.run(compare(trees, args.turns, args.watches, args.seconds))


if __name__ == "__main__":
    cli()
