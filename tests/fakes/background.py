"""Run an asyncio server in its own thread, so it serves whatever loop the test uses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Self


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, make: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
        """Run a coroutine on the background loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class BackgroundServer:
    """A fake server with `start`/`stop` coroutines that can also run in its own thread."""

    _background: BackgroundLoop | None = None

    async def start(self, port: int = 0) -> int:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def start_in_background(self) -> Self:
        self._background = BackgroundLoop()
        self._background.run(self.start)
        return self

    def stop_background(self) -> None:
        if self._background is not None:
            self._background.run(self.stop)
            self._background.close()
