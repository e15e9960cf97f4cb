"""Conversation memory in Redis: one list per (identity, session), oldest first.

Bounded two ways (turns and characters, oldest out first) so prompts stay small, and
expiring after `ttl_s` without use (every read and write refreshes it).

A turn's exchange is written by the llm stage once the answer exists, and taken back
by the gateway if the turn then fails or times out (`forget_turn`), or cut to what the
watch heard when it is cancelled (`cancel_turn`). The take-back
leaves a tombstone, checked atomically by `append`, so an llm worker that finishes
after the gateway gave up cannot bring the failed turn back. Writes are idempotent by
turn id: a redelivered turn does not remember itself twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.cancel import CANCEL_TTL_S, cancel_channel, cancel_key
from shared.observe import HISTORY_OPERATIONS
from shared.settings import CommonSettings

TOMBSTONE_TTL_S = 3600

# KEYS: history list, tombstone, cancel mark, session lease. ARGV: entry, turn id, max
# turns, max chars, ttl. The lease (`shared.session_lock`), if this turn holds it, is
# released in the same step: the exchange is written, the session's next turn may read.
APPEND = """
if KEYS[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[2] then redis.call('DEL', KEYS[4]) end
if tonumber(ARGV[3]) <= 0 or tonumber(ARGV[4]) <= 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local sent = redis.call('GET', KEYS[3])
if sent then
  if sent == '' then return 0 end
  local entry = cjson.decode(ARGV[1])
  entry['model'] = sent
  entry['chars'] = string.len(entry['user']) + string.len(sent)
  ARGV[1] = cjson.encode(entry)
end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, item in ipairs(items) do
  if cjson.decode(item)['turn_id'] == ARGV[2] then
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    return 0
  end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
items = redis.call('LRANGE', KEYS[1], 0, -1)
local total = 0
for _, item in ipairs(items) do total = total + cjson.decode(item)['chars'] end
local i = 1
while total > tonumber(ARGV[4]) and i <= #items do
  total = total - cjson.decode(items[i])['chars']
  redis.call('LPOP', KEYS[1])
  i = i + 1
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: history list, cancel mark. ARGV: turn id, the text sent before the cancel, ttl,
# the cancel channel (`shared.cancel`: a generating llm stage hears it there at once).
CANCEL = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i, item in ipairs(items) do
  local entry = cjson.decode(item)
  if entry['turn_id'] == ARGV[1] then
    if ARGV[2] == '' then
      redis.call('LREM', KEYS[1], 1, item)
    else
      entry['model'] = ARGV[2]
      entry['chars'] = string.len(entry['user']) + string.len(ARGV[2])
      redis.call('LSET', KEYS[1], i - 1, cjson.encode(entry))
    end
    return 1
  end
end
return 0
"""

# KEYS: history list, tombstone. ARGV: turn id, tombstone ttl.
FORGET = """
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local removed = 0
for _, item in ipairs(items) do
  if cjson.decode(item)['turn_id'] == ARGV[1] then
    removed = removed + redis.call('LREM', KEYS[1], 1, item)
  end
end
return removed
"""


@dataclass(frozen=True)
class Exchange:
    """One remembered question and answer."""

    turn_id: str
    """The turn that produced it (makes writes idempotent)."""
    user: str
    """The user's words: typed text or the transcript of the recording."""
    model: str
    """The answer as it was spoken."""
    at: float
    """Unix time the answer was given."""
    chars: int = 0
    """len(user) + len(model): what the character cap counts."""


def exchanges(raw: list[bytes]) -> list[Exchange]:
    """The exchanges of a history list as Redis returns it."""
    return [Exchange(**json.loads(item)) for item in raw]


class HistoryUnavailable(Exception):
    """Redis could not be reached; the turn goes on without memory."""


@dataclass(frozen=True)
class Limits:
    max_turns: int = 20
    max_chars: int = 8000
    ttl_s: int = 24 * 3600


def history_limits(settings: CommonSettings) -> Limits:
    return Limits(settings.history_max_turns, settings.history_max_chars, settings.history_ttl_s)


class HistoryStore:
    def __init__(self, client: redis.Redis, prefix: str, limits: Limits = Limits()) -> None:
        self.redis = client
        self.prefix = prefix
        """The topology prefix of every key (the llm stage's other keys use it too)."""
        self._prefix = prefix
        self.limits = limits
        self._append = client.register_script(APPEND)
        self._forget = client.register_script(FORGET)
        self._cancel = client.register_script(CANCEL)

    def key(self, identity: str, session_id: str) -> str:
        return f"{self._prefix}:history:{identity}:{session_id}"

    def _tombstone(self, identity: str, session_id: str, turn_id: str) -> str:
        return f"{self._prefix}:forgotten:{identity}:{session_id}:{turn_id}"

    async def load(self, identity: str, session_id: str) -> list[Exchange]:
        """The session's exchanges, oldest first; refreshes the TTL."""
        key = self.key(identity, session_id)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lrange(key, 0, -1)
                pipe.expire(key, self.limits.ttl_s)
                raw, _ = await pipe.execute()
        except RedisError as exc:
            HISTORY_OPERATIONS.labels("load", "error").inc()
            raise HistoryUnavailable(str(exc)) from exc
        HISTORY_OPERATIONS.labels("load", "ok").inc()
        return exchanges(raw)

    async def append(
        self,
        identity: str,
        session_id: str,
        turn_id: str,
        user: str,
        model: str,
        release: str = "",
    ) -> bool:
        """Remember one exchange; False if it was already there or its turn was forgotten.

        `release`: the key of the session lease this turn holds (`SessionLocks.key`),
        released in the same round trip once the exchange is written.
        """
        if (self.limits.max_turns <= 0 or self.limits.max_chars <= 0) and not release:
            return False
        entry = Exchange(turn_id, user, model, time.time(), len(user) + len(model))
        try:
            added = await self._append(
                keys=[
                    self.key(identity, session_id),
                    self._tombstone(identity, session_id, turn_id),
                    cancel_key(self._prefix, turn_id),
                    release,
                ],
                args=[
                    json.dumps(asdict(entry), ensure_ascii=False),
                    turn_id,
                    self.limits.max_turns,
                    self.limits.max_chars,
                    self.limits.ttl_s,
                ],
            )
        except RedisError as exc:
            HISTORY_OPERATIONS.labels("append", "error").inc()
            raise HistoryUnavailable(str(exc)) from exc
        HISTORY_OPERATIONS.labels("append", "ok").inc()
        return bool(added)

    async def forget_turn(self, identity: str, session_id: str, turn_id: str) -> int:
        """Take back a failed turn's exchange, now or whenever it is written; how many removed."""
        try:
            removed = await self._forget(
                keys=[
                    self.key(identity, session_id),
                    self._tombstone(identity, session_id, turn_id),
                ],
                args=[turn_id, TOMBSTONE_TTL_S],
            )
        except RedisError as exc:
            HISTORY_OPERATIONS.labels("forget_turn", "error").inc()
            raise HistoryUnavailable(str(exc)) from exc
        HISTORY_OPERATIONS.labels("forget_turn", "ok").inc()
        return int(removed)

    async def cancel_turn(self, identity: str, session_id: str, turn_id: str, sent: str) -> bool:
        """Barge-in: mark the turn cancelled (every stage stops it) and keep of its
        answer only `sent`, the text the watch got before the cancel, now or whenever
        the answer is written; nothing of the exchange when `sent` is empty."""
        try:
            found = await self._cancel(
                keys=[self.key(identity, session_id), cancel_key(self._prefix, turn_id)],
                args=[turn_id, sent, CANCEL_TTL_S, cancel_channel(self._prefix)],
            )
        except RedisError as exc:
            HISTORY_OPERATIONS.labels("cancel_turn", "error").inc()
            raise HistoryUnavailable(str(exc)) from exc
        HISTORY_OPERATIONS.labels("cancel_turn", "ok").inc()
        return bool(found)

    async def clear(self, identity: str, session_id: str) -> bool:
        """Forget the whole session; True if there was anything."""
        try:
            cleared = bool(await self.redis.delete(self.key(identity, session_id)))
        except RedisError as exc:
            HISTORY_OPERATIONS.labels("clear", "error").inc()
            raise HistoryUnavailable(str(exc)) from exc
        HISTORY_OPERATIONS.labels("clear", "ok").inc()
        return cleared
