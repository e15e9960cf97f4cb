"""The compose file is valid for docker-compose (no engine needed) and names every service."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose not installed (.ci/run installs it)",
)


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@needs_compose
def test_compose_file_is_valid() -> None:
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


@needs_compose
def test_compose_runs_the_whole_pipeline() -> None:
    services = set(compose("config", "--services").stdout.split())
    assert services == {"rabbitmq", "redis", "gateway", "stt_worker", "llm_worker", "tts_worker"}


@needs_compose
def test_broker_and_redis_are_health_checked_and_redis_persists() -> None:
    config = compose("config").stdout
    assert config.count("healthcheck:") >= 3
    assert "--appendonly" in config and "condition: service_healthy" in config


def test_image_runs_as_non_root() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert lines.index(f"USER {users[-1]}") > max(
        i for i, line in enumerate(lines) if line.startswith("RUN ")
    )


@needs_compose
def test_google_override_mounts_credentials_for_every_worker() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "-f", "docker-compose.google.yml", "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={"GEMINI_API_KEY": "k", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("/run/secrets/google.json") >= 6  # env and mount, 3 workers


def test_only_the_gateway_gets_the_auth_settings() -> None:
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    gateway = services["gateway"]["environment"]
    assert gateway["AUTH_MODE"] == "${AUTH_MODE:-token}"
    assert gateway["AUTH_TOKEN"] == "${AUTH_TOKEN:-}"  # none by default: no shared secret
    assert gateway["REDIS_URL"] == "redis://redis:6379/0"  # the common ones still there
    for worker in ("stt_worker", "llm_worker", "tts_worker"):
        assert not {k for k in services[worker]["environment"] if k.startswith("AUTH_")}


@needs_compose
def test_compose_passes_the_static_token_to_the_gateway() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={"AUTH_TOKEN": "compose-token-0123456789", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("compose-token-0123456789") == 1


@needs_compose
def test_local_override_builds_nothing_and_mounts_the_models_read_only() -> None:
    """scripts/compose/compose.local.yml, the podman harness's override: local images
    for every service, the host's models mounted read-only where the workers look."""
    local = "scripts/compose/compose.local.yml"
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "-f", local, "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={"UHRWERK_MODELS": "/srv/models", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load(result.stdout)["services"]
    assert all(s["image"].startswith("localhost/") for s in services.values())
    for name in ("gateway", "stt_worker", "llm_worker", "tts_worker"):
        assert "/srv/models:/models:ro" in services[name]["volumes"]
        model = services[name]["environment"]["LLM_LOCAL_MODEL"]
        assert model.startswith("/models/") and model.endswith(".gguf")


def test_healthchecks_have_no_argument_with_a_space() -> None:
    """podman's Docker-compatible API splits healthcheck arguments at spaces."""
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    tests = [s["healthcheck"]["test"] for s in services.values() if "healthcheck" in s]
    assert len(tests) >= 3
    for test in tests:
        assert test[0] == "CMD" and not any(" " in arg for arg in test[1:]), test
