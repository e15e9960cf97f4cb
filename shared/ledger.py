"""Which chunks of a turn a stage has already finished, so a redelivered message is
not redone. Keyed by (stage, turn id, seq): a streamed answer sends one event per
sentence, and each is its own piece of work.

The broker may deliver a message twice: a worker killed after its downstream publish
was confirmed but before its ack, or a broker failover. The worker marks a turn done
after publishing and before acking; a redelivery then finds the mark and is acked
without calling the (slow, paid) backend again. The gateway de-duplicates replies as
the last line, for the narrow window between publish and mark. Only a delivery that
can be a repeat is looked up: a redelivered message, or an event marked `repeat`
(made from a redelivered input, or replayed); see `shared.worker`.

The llm stage looks its chunk up itself, in the same round trip as its session lease
and history (`llm_worker.memory`), and raises `AlreadyDone` for the worker to ack.
"""

from __future__ import annotations

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.logging import get_logger

log = get_logger(__name__)


class AlreadyDone(Exception):
    """Raised by a handler that checks the ledger itself (`StageWorker(checks_ledger=True)`)
    before producing anything: the chunk was finished before, the delivery is acked."""


class TurnLedger:
    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int = 3600) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def key(self, stage: str, turn_id: str, seq: int = 0) -> str:
        """Where the mark of chunk `seq` of `turn_id` at `stage` is kept."""
        return f"{self._prefix}:done:{stage}:{turn_id}:{seq}"

    async def is_done(self, stage: str, turn_id: str, seq: int = 0) -> bool:
        """True if `stage` finished chunk `seq` of `turn_id`; False too when Redis
        cannot tell."""
        try:
            return bool(await self._redis.exists(self.key(stage, turn_id, seq)))
        except RedisError as exc:
            log.warning("ledger unavailable, cannot de-duplicate", error=str(exc))
            return False

    async def mark_done(self, stage: str, turn_id: str, seq: int = 0) -> None:
        try:
            await self._redis.set(self.key(stage, turn_id, seq), b"1", ex=self._ttl_s)
        except RedisError as exc:
            log.warning("ledger unavailable, turn not marked done", error=str(exc))

    async def forget(self, stage: str, turn_id: str, seq: int = 0) -> None:
        """Remove the mark, so the chunk is done again (`uhrwerk dlq replay`); raises
        `RedisError`, since a replay must not go out while the mark may still be there."""
        await self._redis.delete(self.key(stage, turn_id, seq))
