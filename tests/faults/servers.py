"""A RabbitMQ node and a redis-server of the fault suite's own, which it may stop and
start at will: the machine's shared ones (5672, 6379) are never touched.

The RabbitMQ node runs beside the system's under its own node name, ports, data and
log folders, configuration (so `/etc/rabbitmq` with its 5672 listener is not read),
no plugins (no management port to clash), and its own Erlang cookie (HOME is its
folder). It registers with the machine's epmd like any second node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from tests.integration.stack import free_port

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
"""The server script itself: /usr/sbin's wrapper would switch to the rabbitmq user."""
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def rabbitmq_available() -> bool:
    return os.access(RABBITMQ_SERVER, os.X_OK)


def amqp_answers(port: int) -> bool:
    """True when a broker on `port` answers the protocol header with connection.start
    (a listening socket alone is not enough: it opens before the node is ready)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(AMQP_HEADER)
            first = s.recv(7)
            return len(first) == 7 and first[0] == 1  # a METHOD frame
    except OSError:
        return False


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


class OwnRabbit:
    """A private RabbitMQ node; `stop()` then `start()` is a real outage: every client
    connection is closed and its TCP socket goes away, queues and messages stay."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"uhrwerk-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        (workdir / "rabbitmq-env.conf").write_text("")
        (workdir / "enabled_plugins").write_text("")
        (workdir / "rabbitmq.conf").write_text("log.file.level = info\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        folder = str(self.workdir)
        return {
            **os.environ,
            "HOME": folder,
            "RABBITMQ_CONF_ENV_FILE": f"{folder}/rabbitmq-env.conf",
            "RABBITMQ_CONFIG_FILE": f"{folder}/rabbitmq.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{folder}/enabled_plugins",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{folder}/mnesia",
            "RABBITMQ_LOG_BASE": f"{folder}/log",
            "RABBITMQ_PID_FILE": f"{folder}/rabbitmq.pid",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 90.0) -> None:
        """Start the node (its data kept from before) and return once it serves AMQP."""
        with (self.workdir / "server.out").open("ab") as out:
            self.process = subprocess.Popen(
                [RABBITMQ_SERVER],
                env=self._env(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended as one
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if amqp_answers(self.port):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {self.log_tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"rabbitmq-server did not start: {self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node as `docker stop` would (SIGTERM: it closes its connections and
        halts), and wait until its port is closed."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()  # the script traps it and stops the node properly
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        deadline = time.monotonic() + timeout
        while not port_closed(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._kill_group(process.pid)

    def _kill_group(self, pgid: int) -> None:
        """Whatever of the node is left (erl_child_setup, inet_gethost) goes too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / "server.out"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


class OwnRedis:
    """A private redis-server that keeps nothing on disk; `kill()` is a crash."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(7) == b"+PONG\r\n":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: gone at once, every connection reset, nothing saved."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
