"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

import ssl

from aiohttp import web

from gateway.app import Gateway
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
    context = tls_context(settings)
    scheme = "https" if context else "http"
    get_logger(__name__).info(
        "watch page", url=f"{scheme}://{settings.gateway_host}:{settings.gateway_port}/"
    )
    gateway = Gateway(settings)
    web.run_app(
        gateway.app(),
        host=settings.gateway_host,
        port=settings.gateway_port,
        ssl_context=context,
        print=None,
    )


if __name__ == "__main__":
    main()
