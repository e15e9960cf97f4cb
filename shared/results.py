"""Finished answers kept for a while in Redis, so a watch whose gateway died can fetch
the answer of its last turn from any other gateway (`{"type": "resume", "turn_id": …}`).

Replies travel to the reply queue of the gateway that took the turn; when that gateway
is gone (SIGKILL, a crash, a drain that ran out of time), nobody consumes that queue.
So the last stage keeps every reply chunk it publishes here too, one hash per turn:

    <prefix>:result:<turn id>
        identity, session, deadline_ms, voice    the gateway, when it takes the turn
        identity, deadline_ms                    each worker, with every chunk
        chunk:<seq>   JSON: text, transcript, final, error, timings, memory
        audio:<seq>   the sentence's MP3, raw bytes

The worker writes before it publishes, so anything a watch has seen is also here; a
redelivered chunk overwrites the same field with the same value (idempotent). The hash
expires `RESULT_TTL_S` after its last write. Written by the stage rather than by the
gateway because a crashed gateway cannot write anything; one HSET of a sentence's MP3
costs a fraction of a millisecond beside a sentence's synthesis (README, measured).

Every failure here is logged and swallowed: a turn is answered live without it, only
resuming it later is not possible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis.asyncio as redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from shared.contracts import Reply
from shared.logging import get_logger

log = get_logger(__name__)


class ResultsUnavailable(Exception):
    """Redis could not be read: nobody can tell whether the turn has an answer."""


# KEYS: the turn's hash. ARGV: ttl, then field, value, field, value, …
# One script rather than a MULTI of HSET and EXPIRE: the same single round trip at about
# two thirds of the client's CPU (redis-py's transaction pipeline is four commands to
# pack and four replies to parse; 290 against 185 us measured here), once per turn in
# the gateway and once per sentence in the tts stage.
KEEP = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return redis.call('EXPIRE', KEYS[1], ARGV[1])
"""


def result_key(prefix: str, turn_id: str) -> str:
    return f"{prefix}:result:{turn_id}"


@dataclass
class StoredTurn:
    """What Redis holds of one turn."""

    turn_id: str
    identity: str
    session_id: str = ""
    deadline_ms: int = 0
    """Unix milliseconds after which nobody waits for the turn; 0 if not known."""
    voice: bool = False
    chunks: dict[int, Reply] = field(default_factory=dict)
    """By seq; an error reply is kept under its own seq like any chunk."""

    @property
    def complete(self) -> bool:
        """An error, or every sentence up to the final one."""
        if any(c.is_error for c in self.chunks.values()):
            return True
        finals = [seq for seq, c in self.chunks.items() if c.final]
        return bool(finals) and all(seq in self.chunks for seq in range(min(finals) + 1))

    def in_order(self) -> list[Reply]:
        return [self.chunks[seq] for seq in sorted(self.chunks)]


class ResultStore:
    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._keep = client.register_script(KEEP)

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    async def begin(
        self, turn_id: str, identity: str, session_id: str, deadline_ms: int, voice: bool
    ) -> None:
        """The gateway took the turn: a resume can tell "still running" from unknown."""
        if not self.enabled:
            return
        await self._write(
            turn_id,
            {
                "identity": identity,
                "session": session_id,
                "deadline_ms": str(deadline_ms),
                "voice": "1" if voice else "0",
            },
        )

    async def add(self, reply: Reply) -> None:
        """A stage publishes one chunk of the turn's answer (or its error)."""
        if not self.enabled:
            return
        meta = {
            "text": reply.text,
            "transcript": reply.transcript,
            "final": reply.final,
            "error_code": reply.error_code,
            "error_message": reply.error_message,
            "timings": reply.timings,
            "memory": reply.memory,
        }
        await self._write(
            reply.turn_id,
            {
                "identity": reply.identity,
                "deadline_ms": str(reply.deadline_ms),
                f"chunk:{reply.seq}": json.dumps(meta, ensure_ascii=False),
                f"audio:{reply.seq}": reply.audio,
            },
        )

    async def _write(self, turn_id: str, mapping: Mapping[FieldT, EncodableT]) -> None:
        args: list[EncodableT] = [self._ttl_s]
        for name, value in mapping.items():
            args += [name, value]
        try:
            await self._keep(keys=[result_key(self._prefix, turn_id)], args=args)
        except RedisError as exc:
            log.warning("turn result not kept, resume unavailable", turn_id=turn_id, error=str(exc))

    async def load(self, turn_id: str) -> StoredTurn | None:
        """The turn as far as it is kept, or None when nothing is (never was, or expired).
        Raises `ResultsUnavailable` when Redis cannot be read."""
        try:
            raw = await self._redis.hgetall(result_key(self._prefix, turn_id))
        except RedisError as exc:
            raise ResultsUnavailable(str(exc)) from exc
        # The client is not decoding: names and values are bytes.
        fields = {_text(k): _bytes(v) for k, v in raw.items()}
        if "identity" not in fields:
            return None
        stored = StoredTurn(
            turn_id=turn_id,
            identity=fields["identity"].decode("utf-8", "replace"),
            session_id=fields.get("session", b"").decode("utf-8", "replace"),
            deadline_ms=int(fields.get("deadline_ms", b"0") or 0),
            voice=fields.get("voice") == b"1",
        )
        for name, value in fields.items():
            kind, _, number = name.partition(":")
            if kind != "chunk" or not number.isdigit():
                continue
            seq = int(number)
            meta = json.loads(value)
            stored.chunks[seq] = Reply(
                turn_id=turn_id,
                session_id=stored.session_id,
                identity=stored.identity,
                reply_to="",
                deadline_ms=stored.deadline_ms,
                seq=seq,
                final=bool(meta["final"]),
                timings={str(k): float(v) for k, v in meta["timings"].items()},
                memory=str(meta["memory"]),
                audio=fields.get(f"audio:{seq}", b""),
                text=str(meta["text"]),
                transcript=str(meta["transcript"]),
                error_code=str(meta["error_code"]),
                error_message=str(meta["error_message"]),
            )
        return stored


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")
