"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

import asyncio
import signal
import ssl

from aiohttp import web

from gateway.app import Gateway
from shared import loop, tracing
from shared.logging import configure, get_logger
from shared.settings import GatewaySettings


def tls_context(settings: GatewaySettings) -> ssl.SSLContext | None:
    """HTTPS/WSS when GATEWAY_TLS_CERT and GATEWAY_TLS_KEY name a certificate."""
    if not settings.gateway_tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.gateway_tls_cert, settings.gateway_tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"gateway: cannot load GATEWAY_TLS_CERT/GATEWAY_TLS_KEY: {exc}") from exc
    return context


def main() -> None:
    settings = GatewaySettings()
    configure("gateway", settings.log_level, settings.log_format)
    tracing.setup("gateway")
    context = tls_context(settings)
    scheme = "https" if context else "http"
    get_logger(__name__).info(
        "watch page", url=f"{scheme}://{settings.gateway_host}:{settings.gateway_port}/"
    )
    try:
        loop.run(serve(Gateway(settings), context))
    finally:
        tracing.shutdown()  # the spans still batched go out before the process ends


async def serve(gateway: Gateway, context: ssl.SSLContext | None) -> None:
    """Serve until SIGTERM or SIGINT, then drain (`Gateway.drain`) before closing: the
    listening socket stays open meanwhile, so /healthz can tell a load balancer that
    this gateway is going. A second signal cuts the drain short."""
    settings = gateway.settings
    runner = web.AppRunner(
        gateway.app(),
        handle_signals=False,
        shutdown_timeout=3.0,  # after a drain, only sockets still being opened are left
        access_log=None,  # its request lines would carry `?token=`
    )
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, settings.gateway_host, settings.gateway_port, ssl_context=context
        )
        await site.start()
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, stop.set)
        await stop.wait()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, gateway.hurry)
        await gateway.drain()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()
