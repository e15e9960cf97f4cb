"""Redis goes away and comes back: turns are still answered, without memory, and the
memory returns by itself. The pipeline here uses a redis-server of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.faults.servers import OwnRedis
from tests.integration.conftest import delete_topology
from tests.integration.stack import WORKERS, Stack, ws_url
from tests.integration.test_pipeline import ask

pytestmark = [pytest.mark.broker, pytest.mark.integration]

SESSION = "outage-session-0123456789"


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outage_stack(
    own_redis: OwnRedis,
    grpc_fake: FakeGoogleGrpc,
    gemini_fake: FakeGemini,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, int]]:
    prefix = f"ro{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, grpc_fake, gemini_fake, tmp_path_factory.mktemp("outage-logs"))
    stack.env["REDIS_URL"] = f"redis://127.0.0.1:{own_redis.port}/0"
    try:
        for worker in WORKERS:
            stack.start_worker(worker)
        _, port = stack.start_gateway("gateway", GATEWAY_ID="outage")
        yield stack, port
    finally:
        stack.stop_all()
        asyncio.run(delete_topology(prefix, [f"{prefix}.reply.outage"]))


async def say(port: int, message: str) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, session=SESSION)) as ws,
    ):
        return await ask(ws, {"type": "text", "message": message})


async def test_turns_are_answered_without_memory_while_redis_is_down_and_memory_returns(
    outage_stack: tuple[Stack, int], own_redis: OwnRedis, gemini_fake: FakeGemini
) -> None:
    stack, port = outage_stack
    first = await say(port, "Ich heiße Ada.")
    assert first["timings"]["memory"] == "ok"  # type: ignore[index]

    own_redis.stop()
    during = await say(port, "Wie heiße ich?")
    assert during["text_response"]
    assert during["timings"]["memory"] == "unavailable"  # type: ignore[index]
    assert [c["parts"][0]["text"] for c in gemini_fake.requests[-1]["body"]["contents"]] == [
        "Wie heiße ich?"
    ]
    warnings = [
        e
        for e in stack.services["llm_worker"].log_events()
        if e.get("level") == "warning" and "memory unavailable" in str(e.get("event"))
    ]
    assert warnings

    own_redis.start()  # empty again: it keeps nothing on disk
    await say(port, "Ich heiße Grace.")
    after = await say(port, "Und jetzt?")
    assert after["timings"]["memory"] == "ok"  # type: ignore[index]
    contents = gemini_fake.requests[-1]["body"]["contents"]
    assert contents[0]["parts"][0]["text"] == "Ich heiße Grace."
