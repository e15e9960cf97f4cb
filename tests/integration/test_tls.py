"""The gateway over HTTPS/WSS with the certificate `make cert` makes, so a watch on the
network gets the page in a secure context (and with it the microphone)."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.stack import ROOT, Stack, free_port, ws_url

pytestmark = [pytest.mark.broker, pytest.mark.integration]


@pytest.fixture
def tls_gateway(stack: Stack, tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """A gateway serving HTTPS/WSS with a fresh `make cert` certificate, and the trust
    a watch has once it accepted that certificate."""
    made = subprocess.run(
        ["bash", str(ROOT / "scripts" / "make-cert.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "IP:127.0.0.1" in made.stdout
    cert, key = tmp_path / "gateway.crt", tmp_path / "gateway.key"
    port = free_port()
    service = stack.start(
        "gateway",
        "tls",
        GATEWAY_PORT=str(port),
        GATEWAY_ID="tls",
        GATEWAY_TLS_CERT=str(cert),
        GATEWAY_TLS_KEY=str(key),
    )
    trust = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=trust) as page:
                assert b"<html" in page.read().lower()
                break
        except OSError:
            assert service.process.poll() is None, service.log_path.read_text()
            assert time.monotonic() < deadline, service.log_path.read_text()
            time.sleep(0.2)
    with pytest.raises(OSError):  # plain HTTP is not served on that port
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    yield port, trust
    service.stop()


async def test_the_page_and_the_socket_over_tls(tls_gateway: tuple[int, ssl.SSLContext]) -> None:
    port, trust = tls_gateway
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, protocol="2").replace("ws:", "wss:", 1), ssl=trust) as ws,
    ):
        await ws.send_str(json.dumps({"type": "hello"}))
        hello = json.loads((await ws.receive(timeout=10)).data)
    assert hello["type"] == "hello" and hello["protocol"] == 2


def test_a_missing_certificate_stops_the_gateway_with_one_line(
    stack: Stack, tmp_path: Path
) -> None:
    service = stack.start(
        "gateway",
        "tls-missing",
        GATEWAY_PORT=str(free_port()),
        GATEWAY_TLS_CERT=str(tmp_path / "nope.crt"),
    )
    assert service.process.wait(30) != 0
    assert "cannot load GATEWAY_TLS_CERT" in service.log_path.read_text()
