"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

from aiohttp import web

from gateway.app import Gateway
from shared.logging import configure
from shared.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure("gateway", settings.log_level, settings.log_format)
    gateway = Gateway(settings)
    web.run_app(gateway.app(), host=settings.gateway_host, port=settings.gateway_port, print=None)


if __name__ == "__main__":
    main()
