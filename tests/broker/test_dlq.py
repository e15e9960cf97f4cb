"""`uhrwerk dlq` against the real RabbitMQ and Redis: messages dead-lettered by a real
stage worker (a failing handler, a malformed message) are listed, shown and replayed
through the command line, run as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest
import redis.asyncio as redis
from aio_pika.abc import AbstractChannel, AbstractQueue

from shared.broker import Publisher, dead_letter
from shared.contracts import AudioTurn, Envelope, SpeakRequest, Stage, TextTurn, decode
from shared.dlq import replay_mark
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.ledger import TurnLedger
from shared.settings import CommonSettings
from shared.topology import DEAD_REASON_HEADER, Topology, declare, declare_reply_queue
from shared.worker import StageWorker
from tests.integration.conftest import delete_topology
from tests.integration.stack import AMQP_URL, REDIS_URL

pytestmark = pytest.mark.broker


@dataclass
class Rig:
    """A running llm stage worker whose backend is broken until `broken` is cleared."""

    prefix: str
    channel: AbstractChannel
    publisher: Publisher
    reply: AbstractQueue
    redis: redis.Redis
    broken: bool = True
    calls: list[TextTurn] = field(default_factory=list)

    @property
    def topology(self) -> Topology:
        return Topology(self.prefix)

    def turn(self, text: str, ttl_s: float = 10) -> TextTurn:
        return TextTurn(
            turn_id=uuid.uuid4().hex,
            session_id="dlq-session",
            reply_to=self.reply.name,
            deadline_ms=int((time.time() + ttl_s) * 1000),
            text=text,
        )

    async def count(self, name: str) -> int:
        queue = await self.channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0

    async def wait_count(self, name: str, expected: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while await self.count(name) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: {await self.count(name)} messages, not {expected}")
            await asyncio.sleep(0.05)

    async def take(self, name: str, timeout: float = 5.0) -> aio_pika.abc.AbstractIncomingMessage:
        queue = await self.channel.get_queue(name, ensure=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await queue.get(fail=False)
            if message is not None:
                await message.ack()
                return message
            await asyncio.sleep(0.05)
        raise TimeoutError(f"nothing arrived on {name}")

    async def cli(self, *args: str) -> tuple[int, str, str]:
        """`python -m shared.cli dlq ARGS` against this test's topology."""
        env = os.environ | {
            "AMQP_URL": AMQP_URL,
            "REDIS_URL": REDIS_URL,
            "TOPOLOGY_PREFIX": self.prefix,
            "TURN_TIMEOUT_S": "30",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shared.cli",
            "dlq",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def listed(self, stage: str = "llm") -> list[dict[str, Any]]:
        code, out, err = await self.cli("list", stage, "--json")
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
async def rig(prefix: str) -> AsyncIterator[Rig]:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    declared = await declare(channel, Topology(prefix))
    reply = await declare_reply_queue(channel, Topology(prefix), "test", 60)
    client = redis.Redis.from_url(REDIS_URL)
    r = Rig(prefix, channel, Publisher(channel, declared.exchange), reply, client)

    async def handler(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
        r.calls.append(turn)
        if r.broken:
            raise PipelineError(ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "key revoked")
        yield SpeakRequest(**turn.carried(), text=f"echo {turn.text}", transcript=turn.text)

    settings = CommonSettings(amqp_url=AMQP_URL, redis_url=REDIS_URL, topology_prefix=prefix)
    worker = StageWorker(
        stage=Stage.LLM, event_type=TextTurn, handler=handler, settings=settings, service="test"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.3)  # connected and consuming
    yield r
    stop.set()
    await task
    await connection.close()
    await delete_topology(prefix, [reply.name])
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def fail_turns(r: Rig, *texts: str, ttl_s: float = 10, already: int = 0) -> list[TextTurn]:
    """Turns the broken worker answers with an error and dead-letters (after `already`)."""
    turns = [r.turn(text, ttl_s) for text in texts]
    for turn in turns:
        await r.publisher.publish(turn)
    await r.wait_count(r.topology.dead_queue(Stage.LLM), already + len(turns))
    for _ in turns:
        await r.take(r.reply.name)  # the watch's error replies
    return turns


async def test_list_counts_and_messages_in_order_without_consuming(rig: Rig) -> None:
    turns = await fail_turns(rig, "eins", "zwei", "drei")
    exchange = await rig.channel.get_exchange(rig.topology.exchange)
    await exchange.publish(
        aio_pika.Message(b"junk", headers={"kind": "text_turn", "v": 1}), routing_key="llm"
    )
    dead_queue = rig.topology.dead_queue(Stage.LLM)
    await rig.wait_count(dead_queue, 4)

    code, out, err = await rig.cli("list")
    assert code == 0, err
    assert dict(line.split("\t") for line in out.splitlines()) == {
        "stt": "0",
        "llm": "4",
        "tts": "0",
    }
    first = await rig.listed()
    # The three failed side by side (prefetch 16): in the queue in the order they failed,
    # which need not be the order they were sent.
    assert {d["turn_id"] for d in first[:3]} == {t.turn_id for t in turns}
    assert [d["reason_code"] for d in first] == ["backend_rejected"] * 3 + ["malformed"]
    assert first[0]["reason_detail"] == "key revoked"
    assert "lacks header" in first[3]["reason_detail"]
    assert first[0]["size"] == len(b"eins")
    assert abs(first[0]["dead_at"] - time.time()) < 30
    # Listed again: the same messages in the same order, none consumed.
    assert [d["turn_id"] for d in await rig.listed()] == [d["turn_id"] for d in first]
    assert await rig.count(dead_queue) == 4
    code, out, _ = await rig.cli("list", "llm")
    assert code == 0 and turns[1].turn_id in out and "backend_rejected: key revoked" in out


async def test_show_prints_headers_and_envelope_with_the_audio_summarised(rig: Rig) -> None:
    audio = bytes(range(256)) * 40
    turn = AudioTurn(
        turn_id=uuid.uuid4().hex,
        session_id="dlq-session",
        reply_to=rig.reply.name,
        deadline_ms=int((time.time() + 10) * 1000),
        audio=audio,
    )
    await rig.publisher.publish(turn)  # no stt worker runs: it waits on the stt queue
    message = await rig.take(rig.topology.queue(Stage.STT))
    dlx = await rig.channel.get_exchange(rig.topology.dead_letter_exchange)
    await dead_letter(dlx, message, Stage.STT, "backend_unavailable: 503 three times")
    await rig.wait_count(rig.topology.dead_queue(Stage.STT), 1)

    code, out, err = await rig.cli("show", "stt", turn.turn_id)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["envelope"]["audio"]["bytes"] == len(audio)
    assert shown["envelope"]["session_id"] == "dlq-session"
    assert shown["reason"] == {"code": "backend_unavailable", "detail": "503 three times"}
    assert shown["headers"][DEAD_REASON_HEADER] == "backend_unavailable: 503 three times"
    assert shown["size"] == len(audio)
    assert len(out) < 4000  # 10 kB of audio, not printed
    code, by_index, _ = await rig.cli("show", "stt", "--index", "0")
    assert code == 0 and json.loads(by_index)["turn_id"] == turn.turn_id
    code, _, err = await rig.cli("show", "stt", "--index", "5")
    assert code == 1 and "no such message" in err
    assert await rig.count(rig.topology.dead_queue(Stage.STT)) == 1


async def test_replay_after_the_fix_redoes_an_expired_turn_the_ledger_had_marked(
    rig: Rig,
) -> None:
    late, other = await fail_turns(rig, "spät", "später", ttl_s=1.5)
    ledger = TurnLedger(rig.redis, rig.prefix)
    assert await ledger.is_done(Stage.LLM, late.turn_id)  # the worker marked its failure
    await asyncio.sleep(max(0.0, late.remaining()) + 0.1)
    assert late.expired()
    rig.broken = False
    dead_queue = rig.topology.dead_queue(Stage.LLM)

    code, out, err = await rig.cli("replay", "llm", late.turn_id, "--dry-run")
    assert code == 0, err
    assert out.startswith("would replay")
    await asyncio.sleep(0.3)
    assert await rig.count(dead_queue) == 2 and len(rig.calls) == 2

    code, out, err = await rig.cli("replay", "llm", late.turn_id)
    assert code == 0, err
    assert out.startswith("replayed")
    spoken = decode(await rig.take(rig.topology.queue(Stage.TTS)), SpeakRequest)
    assert (spoken.turn_id, spoken.text) == (late.turn_id, "echo spät")
    assert spoken.deadline_ms > late.deadline_ms and not spoken.expired()
    # The first two failed side by side (prefetch 16), in either order; then the replay.
    calls = [c.turn_id for c in rig.calls]
    assert sorted(calls[:2]) == sorted([late.turn_id, other.turn_id]) and calls[2:] == [
        late.turn_id
    ]
    assert await rig.count(dead_queue) == 1

    code, out, err = await rig.cli("replay", "llm", "--all")
    assert code == 0, err
    spoken = decode(await rig.take(rig.topology.queue(Stage.TTS)), SpeakRequest)
    assert spoken.turn_id == other.turn_id
    assert await rig.count(dead_queue) == 0
    code, _, err = await rig.cli("replay", "llm", "--all")
    assert code == 1 and "no such message" in err


async def test_malformed_message_is_refused_and_stays(rig: Rig) -> None:
    exchange = await rig.channel.get_exchange(rig.topology.exchange)
    await exchange.publish(
        aio_pika.Message(b"junk", headers={"kind": "text_turn", "v": 1}), routing_key="llm"
    )
    await rig.wait_count(rig.topology.dead_queue(Stage.LLM), 1)
    (turn,) = await fail_turns(rig, "gut", already=1)
    rig.broken = False
    code, out, _ = await rig.cli("replay", "llm", "--all")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("refused") and "not a valid llm message" in lines[0]
    assert lines[1].startswith(f"replayed\t{turn.turn_id}")
    await rig.take(rig.topology.queue(Stage.TTS))
    assert [d["reason_code"] for d in await rig.listed()] == ["malformed"]


async def test_a_copy_sent_by_a_replay_that_died_before_its_ack_is_removed_not_resent(
    rig: Rig,
) -> None:
    (turn,) = await fail_turns(rig, "einmal")
    rig.broken = False
    # A replay that died between the broker's confirm and its ack left its mark behind.
    queue = await rig.channel.get_queue(rig.topology.dead_queue(Stage.LLM), ensure=False)
    held = await queue.get(no_ack=False)
    await rig.redis.set(replay_mark(Stage.LLM, held, rig.prefix), b"1", ex=60)
    await held.nack(requeue=True)

    code, out, err = await rig.cli("replay", "llm", turn.turn_id)
    assert code == 0, err
    assert out.startswith("removed") and "replayed before" in out
    assert await rig.count(rig.topology.dead_queue(Stage.LLM)) == 0
    await asyncio.sleep(0.3)
    assert await rig.count(rig.topology.queue(Stage.TTS)) == 0
    assert len(rig.calls) == 1


async def test_a_message_the_broker_dead_lettered_after_its_delivery_limit_is_replayed(
    rig: Rig,
) -> None:
    turn = AudioTurn(
        turn_id=uuid.uuid4().hex,
        session_id="dlq-session",
        reply_to=rig.reply.name,
        deadline_ms=int((time.time() + 10) * 1000),
        audio=b"\x1a\x45\xdf\xa3 webm",
    )
    await rig.publisher.publish(turn)  # no stt worker: this test plays one that crashes
    work = await rig.channel.get_queue(rig.topology.queue(Stage.STT), ensure=False)
    while (message := await work.get(no_ack=False, fail=False)) is not None:
        await message.nack(requeue=True)
    await rig.wait_count(rig.topology.dead_queue(Stage.STT), 1)
    (listed,) = await rig.listed("stt")
    assert (listed["turn_id"], listed["reason_code"]) == (turn.turn_id, "delivery_limit")

    code, out, err = await rig.cli("replay", "stt", "--all", "--deadline-s", "120")
    assert code == 0, err
    assert out.startswith(f"replayed\t{turn.turn_id}")
    again = await rig.take(rig.topology.queue(Stage.STT))
    replayed = decode(again, AudioTurn)
    assert (replayed.turn_id, replayed.audio) == (turn.turn_id, turn.audio)
    assert replayed.remaining() > 100
    headers = again.headers or {}
    assert "x-death" not in headers and headers["x-uhrwerk-replayed"] == 1
    assert await rig.count(rig.topology.dead_queue(Stage.STT)) == 0
