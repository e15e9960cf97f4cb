"""What the pipeline itself costs: turns through the real services with stage backends
that do no work, against the raw broker floor measured in the same run.

    python -m bench.pipeline [--seconds 6] [--idle 1000,10000] [--profile DIR]   (in make bench)

Pipeline: the four services as processes against the local RabbitMQ and Redis with
STT_BACKEND=null, LLM_BACKEND=null and TTS_BACKEND=null (a fixed transcript, one short
sentence, a tiny MP3); 1, 16 and 64 watches over WebSocket (protocol 1), each sending
a short WebM/Opus recording and waiting for the spoken reply before the next, for
`--seconds` each after a warm-up.

Floor (the baseline): the same queue types and arguments (`shared.topology.declare`:
quorum work queues, a classic durable reply queue with expiry), persistent messages,
publisher confirms and acks after the confirm, the same prefetch, through three no-op
consumer processes (stt → llm → tts → reply) and back, with 1, 16 and 64 turns in
flight from one client process. The bodies are the recording, a short text and the MP3.
The floor's processes, the services and the watches' client all run the event loop
EVENT_LOOP names (`shared.loop`: uvloop unless EVENT_LOOP=asyncio).

Idle: a fresh gateway's RSS with no watch, then with each count of idle connections.

Profile (`--profile DIR`, needs py-spy: `pip install py-spy`): each service sampled by
py-spy during the last level, as collapsed stacks in DIR/<service>.txt (one line per
stack and its sample count: grep and add up, or feed to a flame graph tool).

Targets (issue 11): p50 at one watch ≤ 2x the floor's; turns/s at 64 ≥ 0.5x the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage

from shared import loop
from shared.contracts import Stage
from shared.settings import CommonSettings
from shared.topology import Topology, declare, declare_reply_queue
from tests.fakes.audio import webm_opus
from tests.integration.conftest import delete_topology
from tests.integration.stack import AMQP_URL, WORKERS, Stack, ws_url
from tts_worker.null import SILENCE_MP3

LEVELS = (1, 16, 64)
WARM_UP_S = 1.0
FD_MARGIN = 500
"""File descriptors beyond the idle connections (sockets to the broker, logs, modules)."""
P50_TARGET = 2.0
THROUGHPUT_TARGET = 0.5
NEXT = {Stage.STT: Stage.LLM, Stage.LLM: Stage.TTS}
"""Where a floor consumer passes a message on; the tts one replies."""
NEXT_STAGES = (Stage.STT, Stage.LLM, Stage.TTS)
NULL_BACKENDS = {"STT_BACKEND": "null", "LLM_BACKEND": "null", "TTS_BACKEND": "null"}
UNLIMITED = {
    "QUESTIONS_PER_MINUTE": "0",
    "MAX_CONNECTIONS_PER_IDENTITY": "0",
    "MAX_CONNECTIONS_PER_ADDRESS": "0",
    "MAX_CONNECTIONS": "20000",
    "OVERLOAD_QUEUE_DEPTH": "0",
}


@dataclass(frozen=True)
class Run:
    """Turns at one level of concurrency."""

    in_flight: int
    latencies_s: list[float]
    """Of the turns that ended within the window."""
    seconds: float
    turns: int
    """All turns of the level, the warm-up's too (what the CPU figures are divided by)."""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000

    @property
    def turns_per_s(self) -> float:
        return len(self.latencies_s) / self.seconds


async def measure(in_flight: int, seconds: float, turn: Callable[[int], Awaitable[None]]) -> Run:
    """`in_flight` loops of back-to-back turns for WARM_UP_S + `seconds`; the turns that
    end within the last `seconds` count (their number over `seconds` is the throughput)."""
    latencies: list[float] = []
    done = 0
    start = time.perf_counter() + WARM_UP_S
    stop = start + seconds

    async def loop(index: int) -> None:
        nonlocal done
        while True:
            began = time.perf_counter()
            if began >= stop:
                return
            await turn(index)
            ended = time.perf_counter()
            done += 1
            if start <= ended <= stop:
                latencies.append(ended - began)

    await asyncio.gather(*(loop(i) for i in range(in_flight)))
    return Run(in_flight, latencies, seconds, done)


# ---- the floor: aio-pika through three no-op consumers ------------------------------


async def floor_consumer(prefix: str, stage: Stage, prefetch: int) -> None:
    """Consume `stage`'s queue, publish on (confirmed), then ack: no work at all."""
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await channel.set_qos(prefetch_count=prefetch)
    declared = await declare(channel, Topology(prefix))
    # What the stage would pass on: a transcript, an answer, the MP3 of the reply.
    body = SILENCE_MP3 if stage is Stage.TTS else b"Das ist eine kurze Antwort."

    async def on_message(message: AbstractIncomingMessage) -> None:
        out = aio_pika.Message(
            body,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        if stage in NEXT:
            await declared.exchange.publish(out, routing_key=NEXT[stage].value, mandatory=True)
        else:
            assert message.reply_to is not None
            await channel.default_exchange.publish(
                out, routing_key=message.reply_to, mandatory=True
            )
        await message.ack()

    await declared.queues[stage].consume(on_message)
    print("ready", flush=True)
    await asyncio.Future()


def start_floor_consumers(prefix: str, prefetch: int) -> list[subprocess.Popen[bytes]]:
    """The three no-op consumers as processes of their own, like the stage workers."""
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.pipeline",
                "--floor-stage",
                stage.value,
                "--prefix",
                prefix,
            ],
            stdout=subprocess.PIPE,
            env={**os.environ, "PREFETCH": str(prefetch)},
        )
        for stage in NEXT_STAGES
    ]


async def floor(seconds: float, clip: bytes) -> tuple[list[Run], dict[str, list[float]]]:
    """The runs, and the CPU milliseconds per turn of each consumer and server."""
    prefix = f"pipebenchfloor{uuid.uuid4().hex[:8]}"
    prefetch = CommonSettings().prefetch
    consumers = start_floor_consumers(prefix, prefetch)
    reply_name = Topology(prefix).reply_queue("client")
    try:
        for consumer in consumers:
            assert consumer.stdout is not None
            assert consumer.stdout.readline().strip() == b"ready"
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.set_qos(prefetch_count=prefetch)
            declared = await declare(channel, Topology(prefix))
            replies = await declare_reply_queue(channel, Topology(prefix), "client", 60)
            waiting: dict[str, asyncio.Future[None]] = {}

            async def on_reply(message: AbstractIncomingMessage) -> None:
                await message.ack()
                future = waiting.pop(message.correlation_id or "", None)
                if future is not None:
                    future.set_result(None)

            await replies.consume(on_reply)

            async def turn(_: int) -> None:
                turn_id = uuid.uuid4().hex
                future = asyncio.get_running_loop().create_future()
                waiting[turn_id] = future
                await declared.exchange.publish(
                    aio_pika.Message(
                        clip,
                        correlation_id=turn_id,
                        reply_to=replies.name,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=Stage.STT.value,
                    mandatory=True,
                )
                await asyncio.wait_for(future, 30)

            own = {stage.value: c.pid for stage, c in zip(NEXT_STAGES, consumers, strict=True)}
            own["client"] = os.getpid()
            pids = {f"floor {name}": pid for name, pid in (own | servers()).items()}
            cpu: dict[str, list[float]] = {}
            runs = []
            for level in LEVELS:
                before = cpu_now(pids)
                run = await measure(level, seconds, turn)
                runs.append(run)
                add_cpu(cpu, pids, before, run.turns)
            return runs, cpu
    finally:
        for consumer in consumers:
            consumer.terminate()
            consumer.wait(10)
        await delete_topology(prefix, [reply_name])


# ---- the pipeline: the real services with null backends ------------------------------


SERVERS = {"beam.smp": "rabbitmq", "redis-server": "redis"}
"""The servers' process names, and what the CPU table calls them."""


def servers() -> dict[str, int]:
    """RabbitMQ's and Redis's processes, where this machine runs them (for their CPU)."""
    found: dict[str, int] = {}
    for entry in sorted(Path("/proc").iterdir(), key=lambda e: e.name):
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in SERVERS and SERVERS[comm] not in found:
            found[SERVERS[comm]] = int(entry.name)
    return {name: found[name] for name in SERVERS.values() if name in found}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_s(pid) for name, pid in pids.items()}


def add_cpu(
    cpu: dict[str, list[float]], pids: dict[str, int], before: dict[str, float], turns: int
) -> None:
    """Append each process's CPU milliseconds per turn since `before` to `cpu`."""
    for name, pid in pids.items():
        cpu.setdefault(name, []).append((cpu_s(pid) - before[name]) * 1000 / turns)


def profile(pids: dict[str, int], seconds: float, folder: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy sampling each service for `seconds` (without pausing it), into `folder`."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    folder.mkdir(parents=True, exist_ok=True)
    sampling = ["record", "--nonblocking", "-r", "100", "-d", str(max(1, int(seconds)))]
    return [
        subprocess.Popen(
            [spy, *sampling, "-f", "raw", "-o", str(folder / f"{name}.txt"), "--pid", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


async def pipeline(
    stack: Stack, port: int, seconds: float, clip: bytes, profile_to: Path | None = None
) -> tuple[list[Run], dict[str, list[float]]]:
    """The runs, and per service its CPU milliseconds per turn at each level (and with
    `profile_to`, py-spy's samples of the last level there)."""
    services = {name: service.process.pid for name, service in stack.services.items()}
    pids = services | {"watches (client)": os.getpid()} | servers()
    cpu: dict[str, list[float]] = {}
    frame = json.dumps({"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"})
    runs = []
    spies: list[subprocess.Popen[bytes]] = []

    def start_profiling() -> None:
        assert profile_to is not None
        spies.extend(profile(services, seconds, profile_to))

    async with aiohttp.ClientSession() as http:
        for level in LEVELS:
            sockets = [await http.ws_connect(ws_url(port)) for _ in range(level)]

            async def turn(
                index: int, sockets: list[aiohttp.ClientWebSocketResponse] = sockets
            ) -> None:
                ws = sockets[index]
                await ws.send_str(frame)
                reply = json.loads((await ws.receive(timeout=30)).data)
                if "audio_base64" not in reply:
                    raise RuntimeError(f"not an answer: {reply}")

            before = cpu_now(pids)
            if profile_to is not None and level == LEVELS[-1]:
                # Started after the warm-up, to sample the measured seconds only.
                asyncio.get_running_loop().call_later(WARM_UP_S, start_profiling)
            run = await measure(level, seconds, turn)
            for spy in spies:
                spy.wait(30)
            runs.append(run)
            add_cpu(cpu, pids, before, run.turns)
            for ws in sockets:
                await ws.close()
    return runs, cpu


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def feasible(counts: list[int]) -> tuple[list[int], list[int]]:
    """(counts this process and the gateway it starts can hold open, skipped counts):
    the soft file descriptor limit is raised to the hard one first; the gateway
    inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(counts, default=0) + FD_MARGIN
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limit = math.inf if soft == resource.RLIM_INFINITY else soft
    ok = [c for c in counts if c + FD_MARGIN <= limit]
    return ok, [c for c in counts if c not in ok]


async def idle(stack: Stack, counts: list[int]) -> list[tuple[int, float]]:
    """(connections, gateway RSS in MB), starting with none."""
    service, port = stack.start_gateway("gateway-idle", GATEWAY_ID="pipebench-idle", **UNLIMITED)
    pid = service.process.pid
    await asyncio.sleep(1.0)
    figures = [(0, rss_mb(pid))]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        for count in counts:
            while len(sockets) < count:
                batch = min(200, count - len(sockets))
                sockets += await asyncio.gather(
                    *(http.ws_connect(ws_url(port), heartbeat=None) for _ in range(batch))
                )
            await asyncio.sleep(2.0)
            if any(ws.closed for ws in sockets):
                raise RuntimeError("idle connections were closed")
            figures.append((count, rss_mb(pid)))
        await asyncio.gather(*(ws.close() for ws in sockets))
    return figures


def table(floor_runs: list[Run], pipe_runs: list[Run]) -> str:
    lines = [
        f"{'in flight':>9} {'':<9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'turns/s':>8} "
        f"{'turns':>6} {'p50 x':>6} {'turns/s x':>9}"
    ]
    for base, run in zip(floor_runs, pipe_runs, strict=True):
        for name, r in (("floor", base), ("pipeline", run)):
            ratios = (
                f"{r.percentile(0.5) / base.percentile(0.5):>6.2f} "
                f"{r.turns_per_s / base.turns_per_s:>9.2f}"
                if r is run
                else f"{'1':>6} {'1':>9}"
            )
            lines.append(
                f"{r.in_flight:>9} {name:<9} {r.percentile(0.5):>8.1f} {r.percentile(0.95):>8.1f} "
                f"{r.percentile(0.99):>8.1f} {r.turns_per_s:>8.0f} {len(r.latencies_s):>6} {ratios}"
            )
    one = pipe_runs[0].percentile(0.5) / floor_runs[0].percentile(0.5)
    many = pipe_runs[-1].turns_per_s / floor_runs[-1].turns_per_s
    lines.append(
        f"p50 at 1 in flight {one:.2f}x the floor's (target ≤ {P50_TARGET}x): "
        f"{'met' if one <= P50_TARGET else 'MISSED'}; turns/s at {LEVELS[-1]} in flight "
        f"{many:.2f}x the floor's (target ≥ {THROUGHPUT_TARGET}x): "
        f"{'met' if many >= THROUGHPUT_TARGET else 'MISSED'}"
    )
    return "\n".join(lines)


def cpu_table(floor_cpu: dict[str, list[float]], pipe_cpu: dict[str, list[float]]) -> str:
    """CPU milliseconds per turn of each process, the floor's and the pipeline's, with
    the sums of the Python processes (the servers are the same two in both)."""
    header = f"{'CPU ms per turn':<24}" + "".join(f"{f'at {n}':>8}" for n in LEVELS)
    lines = [header]
    for side, cpu in (("floor", floor_cpu), ("pipeline", pipe_cpu)):
        for name, figures in cpu.items():  # the Python processes, then the servers
            lines.append(f"{name:<24}" + "".join(f"{ms:>8.1f}" for ms in figures))
        # The services against the floor's consumers; the client that drives each is
        # listed (it shares the cores) but not summed.
        own = [
            n for n in cpu if n.removeprefix("floor ") not in SERVERS.values() and "client" not in n
        ]
        sums = [sum(cpu[name][i] for name in own) for i in range(len(LEVELS))]
        lines.append(f"{side + ' Python, all':<24}" + "".join(f"{ms:>8.1f}" for ms in sums))
    return "\n".join(lines)


async def main(seconds: float, idle_counts: list[int], profile_to: Path | None = None) -> None:
    clip = webm_opus(None, seconds=1.0)
    floor_runs, floor_cpu = await floor(seconds, clip)
    prefix = f"pipebench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="uhrwerk-pipebench-") as folder:
        stack = Stack(prefix, None, None, Path(folder))
        stack.env |= NULL_BACKENDS
        try:
            for worker in WORKERS:
                stack.start_worker(worker)
            _, port = stack.start_gateway("gateway", GATEWAY_ID="pipebench", **UNLIMITED)
            pipe_runs, cpu = await pipeline(stack, port, seconds, clip, profile_to)
            counts, skipped = feasible(idle_counts)
            idle_figures = await idle(stack, counts) if counts else []
        finally:
            stack.stop_all()
            await delete_topology(
                prefix,
                [Topology(prefix).reply_queue(g) for g in ("pipebench", "pipebench-idle")],
            )
    print(
        f"null backends vs the raw broker floor (same queues, confirms, acks, prefetch); "
        f"{seconds:.0f} s per level after {WARM_UP_S:.0f} s warm-up; 1 s WebM/Opus recording; "
        f"event loop {os.environ.get('EVENT_LOOP') or 'uvloop'} everywhere (EVENT_LOOP)"
    )
    print(table(floor_runs, pipe_runs))
    print(cpu_table(floor_cpu, cpu))
    if skipped:
        print(f"idle connections skipped (file descriptor limit, ulimit -n): {skipped}")
    if idle_figures:
        print(f"{'idle watch connections':>22} {'gateway RSS MB':>15}")
        for count, mb in idle_figures:
            print(f"{count:>22} {mb:>15.0f}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per level")
    parser.add_argument("--idle", default="1000,10000", help="idle connection counts; '' skips")
    parser.add_argument(
        "--profile", type=Path, help="py-spy samples of each service at the last level, here"
    )
    parser.add_argument("--floor-stage", choices=[s.value for s in NEXT] + [Stage.TTS.value])
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_stage:
        prefetch = int(os.environ.get("PREFETCH", "16"))
        loop.run(floor_consumer(args.prefix, Stage(args.floor_stage), prefetch))
        return
    counts = [int(c) for c in args.idle.split(",") if c.strip()]
    loop.run(main(args.seconds, counts, args.profile))


if __name__ == "__main__":
    cli()
