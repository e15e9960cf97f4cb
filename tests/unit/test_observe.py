"""The metrics server and the backend call counters, in-process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from shared import observe
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.retry import call_with_retry, run_local
from shared.settings import LlmSettings, SttSettings, TtsSettings
from tests.integration.stack import free_port


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_server_answers_alive_ready_and_metrics() -> None:
    checks = {"broker": True, "backend": True}
    port = free_port()
    runner = await observe.start_server("127.0.0.1", port, lambda: dict(checks))
    assert runner is not None
    observe.DEAD_LETTERED.labels("unit", "backend_rejected").inc()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/healthz") as r:
                assert r.status == 200
            async with http.get("/readyz") as r:
                assert r.status == 200
                assert await r.json() == {"status": "ready", "broker": True, "backend": True}
            checks["broker"] = False
            async with http.get("/readyz") as r:
                assert r.status == 503
                assert (await r.json())["broker"] is False
            async with http.get("/healthz") as r:
                assert r.status == 200  # alive all the same
            async with http.get("/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
    finally:
        await runner.cleanup()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    dead = [
        s
        for s in families["uhrwerk_dead_lettered"].samples
        if s.name == "uhrwerk_dead_lettered_total" and s.labels["stage"] == "unit"
    ]
    assert [(s.labels["reason"], s.value) for s in dead] == [("backend_rejected", 1.0)]


async def test_port_0_serves_nothing_and_a_taken_port_is_no_crash() -> None:
    assert await observe.start_server("127.0.0.1", 0, dict) is None
    port = free_port()
    first = await observe.start_server("127.0.0.1", port, dict)
    assert first is not None
    try:
        assert await observe.start_server("127.0.0.1", port, dict) is None
    finally:
        await first.cleanup()


async def test_every_attempt_counts_as_a_call_and_failures_by_category() -> None:
    what = f"unit-{time.monotonic_ns()}"
    outcomes: list[Exception | None] = [ConnectionError("reset"), None]

    async def call(_: float) -> str:
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure
        return "ok"

    def classify(exc: BaseException) -> ErrorCategory:
        return ErrorCategory.TRANSIENT

    result = await call_with_retry(
        call,
        classify=classify,
        attempts=3,
        attempt_timeout_s=1.0,
        deadline=time.time() + 5,
        what=what,
    )
    assert result == "ok"
    assert sample("uhrwerk_backend_calls_total", backend=what) == 2
    assert sample("uhrwerk_backend_errors_total", backend=what, category="transient") == 1

    def rejected(_: BaseException) -> ErrorCategory:
        return ErrorCategory.PERMANENT

    outcomes[:] = [ValueError("bad request")]
    with pytest.raises(PipelineError) as failed:
        await call_with_retry(
            call,
            classify=rejected,
            attempts=3,
            attempt_timeout_s=1.0,
            deadline=time.time() + 5,
            what=what,
        )
    assert failed.value.code is ErrorCode.BACKEND_REJECTED
    assert sample("uhrwerk_backend_calls_total", backend=what) == 3
    assert sample("uhrwerk_backend_errors_total", backend=what, category="permanent") == 1


async def test_a_local_call_past_its_deadline_is_a_transient_error() -> None:
    what = f"local-{time.monotonic_ns()}"
    assert (
        await run_local(len, "abc", lock=asyncio.Lock(), deadline=time.time() + 5, what=what) == 3
    )
    with pytest.raises(PipelineError):
        await run_local(time.sleep, 0.5, lock=asyncio.Lock(), deadline=time.time(), what=what)
    assert sample("uhrwerk_backend_calls_total", backend=what) == 2
    assert sample("uhrwerk_backend_errors_total", backend=what, category="transient") == 1


def test_compose_checks_each_worker_on_its_default_metrics_port() -> None:
    yaml = pytest.importorskip("yaml")
    root = Path(__file__).resolve().parents[2]
    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    defaults = {
        "stt_worker": SttSettings.model_fields["metrics_port"].default,
        "llm_worker": LlmSettings.model_fields["metrics_port"].default,
        "tts_worker": TtsSettings.model_fields["metrics_port"].default,
    }
    assert len(set(defaults.values())) == 3 and 0 not in defaults.values()
    for name, port in defaults.items():
        test = services[name]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "shared.probe", f"http://127.0.0.1:{port}/readyz"]
