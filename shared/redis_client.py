"""The one way every service connects to Redis (history, leases, ledger, cancel marks).

Commands that concurrent turns issue at the same moment go out together, as one
pipeline (`BatchingRedis`): under load a stage has a dozen turns in flight, and
redis-py spends about 70 us of CPU on each command sent alone (a connection taken from
the pool, a write, a wake-up for the reply) against 12-18 us each in a pipeline of
many (64 concurrent SETs; README, "What the pipeline itself costs"). A command with
nothing beside it is sent as before. Tested in `tests/broker/test_redis_batching.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis


class BatchingRedis(redis.Redis):
    """`redis.asyncio.Redis` whose commands issued in one event-loop turn share a round
    trip. Each caller still gets its own result or its own error (a script's NOSCRIPT
    too, which redis-py's `Script` then loads and retries); a connection error fails
    every command of the batch, as it would have failed each alone. Pipelines,
    transactions and pub/sub are redis-py's own and unaffected."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._joining: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] | None
        self._joining = None
        self._sending: set[asyncio.Task[None]] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        joining = self._joining
        if joining is not None:
            # Another command is collecting its batch in this loop turn: go with it.
            future: asyncio.Future[Any] = loop.create_future()
            joining.append((args, options, future))
            return await future
        self._joining = joining = []
        own: asyncio.Future[Any] = loop.create_future()
        try:
            await asyncio.sleep(0)  # one loop turn, for the others ready now to join
        except asyncio.CancelledError:
            own.cancel()  # this caller is gone before anything was sent: not sent
            raise
        finally:
            self._joining = None
            if joining:
                # In a task of its own: the batch is answered even if this caller is
                # cancelled now or while it waits.
                batch = joining if own.cancelled() else [(args, options, own), *joining]
                task = loop.create_task(self._send(batch))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        if not joining:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return await own

    async def _send(
        self, batch: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]]
    ) -> None:
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options, _ in batch:
                    pipe.execute_command(*args, **options)
                results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _, _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def redis_client(url: str) -> redis.Redis:
    """A Redis client that fails fast, so an outage degrades a turn instead of stalling it."""
    return BatchingRedis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10
    )
