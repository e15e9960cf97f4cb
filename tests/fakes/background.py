"""Run an asyncio server in its own thread, so it serves whatever loop the test uses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Self

from aiohttp import web


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


class HttpFake(BackgroundServer):
    """A fake HTTP server on 127.0.0.1: a subclass says what its `app` serves."""

    port = 0
    _runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, port: int = 0) -> int:
        # A request left hanging (a stalled backend) must not hold `stop` for aiohttp's
        # default minute of graceful shutdown.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
