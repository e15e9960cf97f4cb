"""Barge-in: a cancelled turn is marked in Redis, where every replica of every stage
looks, and announced on a Redis channel, so a generating llm stage hears it at once.

The gateway sets the mark (`<prefix>:cancel:<turn id>`, holding the answer text the
watch was sent before the cancel) and publishes the turn id on `<prefix>:cancelled`
when the watch cancels or asks anew (`HistoryStore.cancel_turn`, one script). The mark
stays for whoever looks later: the tts stage checks it before each sentence and skips
what is not yet spoken, a replica taking the turn's next sentence finds it, and the
history keeps only the text in it (see `HistoryStore.append`).

The tts stage asks before each sentence (`CancelFlags.cancelled`). Its process
listens on the channel too and remembers the turn ids it hears: for a turn accepted
after the subscription was confirmed (`accepted_ms`, with `CLOCK_SKEW_S` to spare for
the hosts' clocks) every cancel came through the channel, so the answer needs no
round trip; an older turn, or any while the subscription is down, is looked up in
Redis. (A cancel lost while redis-py silently re-subscribes costs a sentence spoken
for nothing: the gateway drops it, as it drops every frame of a cancelled turn.)

The llm stage watches the turns it is generating (`CancelFlags.watch`). One
subscription per process serves all of them, instead of a GET every 50 ms per turn:
a turn is looked up once when its watch starts (the llm stage does that inside its own
opening script, `watching`), then only the channel says it is cancelled. Whenever the
subscription is (re)confirmed, every watched turn is looked up once more, so a cancel
published while it was down (Redis restarted, the connection dropped) is not missed;
while it cannot be re-established the listener retries every `RETRY_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.logging import get_logger

log = get_logger(__name__)

CANCEL_TTL_S = 3600
RETRY_S = 0.05
"""How soon a lost subscription is tried again (and watched turns looked up)."""
LISTEN_WAKE_S = 1.0
"""The listener wakes this often without a message (lets redis-py check the link)."""
CLOCK_SKEW_S = 2.0
"""How far the gateway's clock may be ahead of a worker's: a turn accepted less than
this after the subscription was confirmed is looked up in Redis."""
HEARD_CAP = 10_000
"""Cancelled turn ids remembered per process, newest kept (a turn lives ≤ 10 min)."""


def cancel_key(prefix: str, turn_id: str) -> str:
    return f"{prefix}:cancel:{turn_id}"


def cancel_channel(prefix: str) -> str:
    """Where the gateway publishes the id of each turn it cancels."""
    return f"{prefix}:cancelled"


class CancelFlags:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._watched: dict[str, list[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closing = False
        self._subscribed_at: float | None = None
        """Unix time the subscription was last confirmed; None while it is not."""
        self._heard: OrderedDict[str, None] = OrderedDict()
        """Turn ids heard cancelled on the channel, oldest first (at most HEARD_CAP)."""

    @property
    def subscribed_at(self) -> float | None:
        """Unix time the channel's subscription was last confirmed (None: it is not):
        every cancel published since then is heard."""
        return self._subscribed_at

    async def cancelled(self, turn_id: str, accepted_ms: int = 0) -> bool:
        """True once the turn is cancelled; False too when Redis cannot tell (the turn
        then runs to its end, which costs work but loses nothing). With the turn's
        `accepted_ms`, answered from the channel when it has heard all its cancels."""
        self._listen()
        since = self._subscribed_at
        if accepted_ms and since is not None and since <= accepted_ms / 1000 - CLOCK_SKEW_S:
            return turn_id in self._heard
        try:
            return bool(await self._redis.exists(cancel_key(self._prefix, turn_id)))
        except RedisError as exc:
            log.warning("cancel marks unavailable", error=str(exc))
            return False

    @contextlib.contextmanager
    def watching(self, turn_id: str) -> Iterator[asyncio.Event]:
        """An event set when the turn is cancelled from now on. The caller looks up the
        mark once itself *after* entering (a cancel from before), as the llm stage does
        in the same round trip as its session lease; `watch` does it for you."""
        self._listen()
        event = asyncio.Event()
        events = self._watched.setdefault(turn_id, [])
        events.append(event)
        try:
            yield event
        finally:
            events.remove(event)
            if not events:
                del self._watched[turn_id]

    @contextlib.asynccontextmanager
    async def watch(self, turn_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set once the turn is cancelled, before the block or during it."""
        with self.watching(turn_id) as event:
            if await self.cancelled(turn_id):
                event.set()
            yield event

    async def aclose(self) -> None:
        """Stop listening (tests; a worker's process simply ends)."""
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._listener, LISTEN_WAKE_S + 1)
            self._listener = None

    def _listen(self) -> None:
        """Start the one listener of this process, on first use."""
        if self._listener is None or self._listener.done():
            self._closing = False
            self._listener = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        channel = cancel_channel(self._prefix)
        failing = False
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                while not self._closing:
                    message = await pubsub.get_message(timeout=LISTEN_WAKE_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # Confirmed (again, after redis-py reconnected): from here on
                        # every cancel arrives; one from before is found by the look-up.
                        self._subscribed_at = time.time()
                        await self._look_up_all()
                        if failing:
                            log.info("cancel channel back")
                            failing = False
                    elif message["type"] == "message":
                        self._set(_text(message["data"]))
            except (RedisError, OSError) as exc:
                self._subscribed_at = None
                if not failing:  # once per outage, not every RETRY_S
                    log.warning("cancel channel unavailable, retrying", error=str(exc))
                    failing = True
            finally:
                self._subscribed_at = None
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RETRY_S)

    async def _look_up_all(self) -> None:
        """Look up the mark of every watched turn, in one round trip."""
        turn_ids = list(self._watched)
        if not turn_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for turn_id in turn_ids:
                pipe.exists(cancel_key(self._prefix, turn_id))
            found = await pipe.execute()
        for turn_id, marked in zip(turn_ids, found, strict=True):
            if marked:
                self._set(turn_id)

    def _set(self, turn_id: str) -> None:
        self._heard[turn_id] = None
        if len(self._heard) > HEARD_CAP:
            self._heard.popitem(last=False)
        for event in self._watched.get(turn_id, ()):
            event.set()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
