from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aio_pika
import pytest

from shared.contracts import Stage
from shared.topology import Topology
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.stack import AMQP_URL, WORKERS, Stack

pytestmark = [pytest.mark.broker, pytest.mark.integration]


async def delete_topology(prefix: str, reply_queues: list[str]) -> None:
    topology = Topology(prefix)
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for stage in Stage:
            await channel.queue_delete(topology.queue(stage))
            await channel.queue_delete(topology.dead_queue(stage))
        for name in reply_queues:
            await channel.queue_delete(name)
        await channel.exchange_delete(topology.exchange)
        await channel.exchange_delete(topology.dead_letter_exchange)


@pytest.fixture(scope="module")
def grpc_fake() -> Iterator[FakeGoogleGrpc]:
    server = FakeGoogleGrpc().start_in_background()
    yield server
    server.stop_background()


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start_in_background()
    yield server
    server.stop_background()


@pytest.fixture(scope="module")
def stack(
    grpc_fake: FakeGoogleGrpc, gemini_fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    import uuid

    prefix = f"it{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, grpc_fake, gemini_fake, tmp_path_factory.mktemp("logs"))
    try:
        for worker in WORKERS:
            stack.start_worker(worker)
        yield stack
    finally:
        stack.stop_all()
        replies = [
            f"{prefix}.reply.{name}"
            for name in ("g1", "g2", "short", "small", "restart1", "restart2")
        ]
        asyncio.run(delete_topology(prefix, replies))


@pytest.fixture(autouse=True)
def reset_fakes(grpc_fake: FakeGoogleGrpc, gemini_fake: FakeGemini) -> None:
    for fake in (grpc_fake,):
        fake.recognize_requests.clear()
        fake.synthesize_requests.clear()
        fake.recognize_failures.clear()
        fake.synthesize_failures.clear()
        fake.delay_s = 0.0
        fake.synthesize_s = (0.0, 0.0)
    gemini_fake.requests.clear()
    gemini_fake.failures.clear()
    gemini_fake.delay_s = 0.0
    gemini_fake.script = None
    gemini_fake.first_token_s = gemini_fake.token_interval_s = 0.0
    gemini_fake.hold = None
