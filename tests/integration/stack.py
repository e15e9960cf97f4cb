"""The four services as real processes against the real RabbitMQ and Redis."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc

ROOT = Path(__file__).resolve().parents[2]
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKERS = ("stt_worker", "llm_worker", "tts_worker")
# One static pairing token per test run: every Stack passes it to its services as AUTH_TOKEN,
# and ws_url() presents it, so watches in tests are paired like a real one.
AUTH_TOKEN = secrets.token_urlsafe(24)
AUTH_IDENTITY = "tests"
"""The identity AUTH_TOKEN stands for: history and profiles of test watches are keyed by it."""


def ws_url(port: int, **query: str) -> str:
    """The gateway's /ws on 127.0.0.1:port with the run's token and any further query."""
    return f"ws://127.0.0.1:{port}/ws?" + urllib.parse.urlencode({"token": AUTH_TOKEN, **query})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    def __init__(self, name: str, module: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def wait_for_log(self, event: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("event") == event for e in self.log_events()):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(
            f"{self.name} never logged {event!r}: {self.log_path.read_text()[-3000:]}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


GOOGLE_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_PLAINTEXT_ENDPOINTS",
)


class Stack:
    """Services under one topology prefix. With fakes, the Google backends talk to them;
    without, nothing Google is configured and `auto` must pick the offline backends."""

    def __init__(
        self,
        prefix: str,
        grpc: FakeGoogleGrpc | None,
        gemini: FakeGemini | None,
        logs: Path,
    ) -> None:
        self.prefix = prefix
        self.logs = logs
        base = {k: v for k, v in os.environ.items() if k not in GOOGLE_VARIABLES}
        self.env = {
            **base,
            "AMQP_URL": AMQP_URL,
            "REDIS_URL": REDIS_URL,
            "TOPOLOGY_PREFIX": prefix,
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            "AUTH_TOKEN": AUTH_TOKEN,
            "AUTH_TOKEN_NAME": AUTH_IDENTITY,
            # The suite asks far faster than a person, from one address and as one
            # identity; the tests of these limits set small ones of their own.
            "QUESTIONS_PER_MINUTE": "0",
            "MAX_CONNECTIONS_PER_IDENTITY": "0",
            "MAX_CONNECTIONS_PER_ADDRESS": "0",
            # Workers serve no metrics unless a test asks (the defaults 9101-9103 would
            # collide between stacks running at once).
            "METRICS_PORT": "0",
        }
        if grpc is not None and gemini is not None:
            self.env |= {
                "GOOGLE_PLAINTEXT_ENDPOINTS": "true",
                "STT_GOOGLE_ENDPOINT": grpc.endpoint,
                "TTS_GOOGLE_ENDPOINT": grpc.endpoint,
                "GOOGLE_GEMINI_BASE_URL": gemini.base_url,
                "GEMINI_API_KEY": "integration-key",
            }
        self.services: dict[str, Service] = {}
        self._count = 0

    def start(self, module: str, name: str | None = None, **env: str) -> Service:
        self._count += 1
        name = name or module
        service = Service(
            name, module, {**self.env, **env}, self.logs / f"{self._count:02d}-{name}.log"
        )
        self.services[name] = service
        return service

    def start_worker(
        self, module: str, name: str | None = None, timeout: float = 30.0, **env: str
    ) -> Service:
        service = self.start(module, name, **env)
        service.wait_for_log("worker ready", timeout)
        return service

    def start_gateway(self, name: str = "gateway", **env: str) -> tuple[Service, int]:
        port = free_port()
        service = self.start("gateway", name, GATEWAY_PORT=str(port), **env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return service, port
            except OSError:
                if service.process.poll() is not None:
                    raise RuntimeError(service.log_path.read_text()) from None
                time.sleep(0.1)
        raise TimeoutError(service.log_path.read_text())

    def stop_all(self) -> None:
        for service in self.services.values():
            service.stop()
