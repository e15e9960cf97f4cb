"""Every service's event loop: uvloop by default, asyncio's own with EVENT_LOOP=asyncio.

The services spend most of their CPU moving small frames between sockets (WebSocket,
AMQP, Redis); uvloop's libuv transports do that with less Python per frame
(`python -m bench.pipeline`, README "What the pipeline itself costs"). Nothing in the
code depends on which loop runs it, so asyncio's stays one variable away, for
debugging or a platform without uvloop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOPS = ("uvloop", "asyncio")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for EVENT_LOOP; None means asyncio's default."""
    chosen = (os.environ.get("EVENT_LOOP") or "uvloop").strip().lower()
    if chosen not in LOOPS:
        raise SystemExit(f"EVENT_LOOP must be one of {', '.join(LOOPS)}, not {chosen!r}")
    if chosen == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
