from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.api_core import exceptions as core
from google.genai import errors as genai_errors
from pydantic import ValidationError

from shared.contracts import Stage
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.google import classify
from shared.retry import call_with_retry
from shared.settings import GatewaySettings, LlmSettings, SttSettings, TtsSettings
from shared.topology import Topology


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = GatewaySettings(_env_file=None)
    assert gateway.gateway_port == 8080
    assert gateway.turn_timeout_s == 30.0
    assert LlmSettings(_env_file=None).gemini_model == "gemini-flash-latest"
    assert SttSettings(_env_file=None).stt_language == "de-DE"
    assert TtsSettings(_env_file=None).tts_voice == "de-DE-Wavenet-F"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "9001")
    monkeypatch.setenv("TURN_TIMEOUT_S", "12.5")
    monkeypatch.setenv("PREFETCH", "3")
    monkeypatch.setenv("GEMINI_MODEL", "gemini-3.5-flash-lite")
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@broker:5672/")
    gateway = GatewaySettings(_env_file=None)
    assert (gateway.gateway_port, gateway.turn_timeout_s, gateway.prefetch) == (9001, 12.5, 3)
    assert gateway.amqp_url == "amqp://u:p@broker:5672/"
    assert LlmSettings(_env_file=None).gemini_model == "gemini-3.5-flash-lite"


def test_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFETCH", "0")
    with pytest.raises(ValidationError, match="prefetch"):
        GatewaySettings(_env_file=None)


def test_topology_names_share_one_prefix() -> None:
    topo = Topology("p")
    assert [topo.queue(s) for s in Stage] == ["p.stt", "p.llm", "p.tts"]
    assert topo.dead_queue(Stage.LLM) == "p.llm.dead"
    assert topo.reply_queue("g1") == "p.reply.g1"
    assert topo.dead_letter_exchange == "p.dlx"


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (core.TooManyRequests("x"), ErrorCategory.TRANSIENT),
        (core.ServiceUnavailable("x"), ErrorCategory.TRANSIENT),
        (core.InternalServerError("x"), ErrorCategory.TRANSIENT),
        (core.DeadlineExceeded("x"), ErrorCategory.TRANSIENT),
        (core.BadRequest("x"), ErrorCategory.PERMANENT),
        (core.Unauthorized("x"), ErrorCategory.PERMANENT),
        (core.PermissionDenied("x"), ErrorCategory.PERMANENT),
        (genai_errors.ClientError(429, {"error": {"message": "x"}}), ErrorCategory.TRANSIENT),
        (genai_errors.ServerError(503, {"error": {"message": "x"}}), ErrorCategory.TRANSIENT),
        (genai_errors.ClientError(400, {"error": {"message": "x"}}), ErrorCategory.PERMANENT),
        (genai_errors.ClientError(403, {"error": {"message": "x"}}), ErrorCategory.PERMANENT),
        (TimeoutError(), ErrorCategory.TRANSIENT),
        (ConnectionRefusedError(), ErrorCategory.TRANSIENT),
        (ValueError("bug"), ErrorCategory.PERMANENT),
    ],
)
def test_classification(exc: BaseException, category: ErrorCategory) -> None:
    assert classify(exc) is category


def test_grpc_status_classification() -> None:
    def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
        return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata())

    assert classify(rpc_error(grpc.StatusCode.UNAVAILABLE)) is ErrorCategory.TRANSIENT
    assert classify(rpc_error(grpc.StatusCode.INVALID_ARGUMENT)) is ErrorCategory.PERMANENT


async def test_retry_stops_at_the_first_permanent_failure() -> None:
    calls: list[float] = []

    async def call(timeout_s: float) -> str:
        calls.append(timeout_s)
        raise core.BadRequest("no")

    with pytest.raises(PipelineError) as caught:
        await call_with_retry(
            call,
            classify=classify,
            attempts=5,
            attempt_timeout_s=1,
            deadline=time.time() + 5,
            what="x",
        )
    assert caught.value.code is ErrorCode.BACKEND_REJECTED
    assert len(calls) == 1


async def test_retry_gives_each_attempt_at_most_the_remaining_time() -> None:
    calls: list[float] = []

    async def call(timeout_s: float) -> str:
        calls.append(timeout_s)
        if len(calls) < 3:
            raise core.ServiceUnavailable("busy")
        return "ok"

    result = await call_with_retry(
        call,
        classify=classify,
        attempts=3,
        attempt_timeout_s=10,
        deadline=time.time() + 2,
        what="x",
    )
    assert result == "ok"
    assert len(calls) == 3
    assert all(t <= 2 for t in calls)


async def test_retry_reports_timeout_when_the_deadline_passes() -> None:
    async def call(timeout_s: float) -> str:
        await asyncio.sleep(10)
        return "never"

    started = time.monotonic()
    with pytest.raises(PipelineError) as caught:
        await call_with_retry(
            call,
            classify=classify,
            attempts=10,
            attempt_timeout_s=0.2,
            deadline=time.time() + 0.5,
            what="x",
        )
    assert caught.value.code in (ErrorCode.TIMEOUT, ErrorCode.BACKEND_UNAVAILABLE)
    assert time.monotonic() - started < 1.5


def test_cpu_bound_backends_take_one_turn_beyond_what_they_run() -> None:
    from shared.settings import CommonSettings
    from shared.worker import prefetch_for

    class Remote:
        name = "google"
        max_concurrency: int | None = None

        async def close(self) -> None: ...

    class Local(Remote):
        max_concurrency: int | None = 1

    settings = CommonSettings(prefetch=16)
    assert prefetch_for(Remote(), settings) == 16
    assert prefetch_for(Local(), settings) == 2
    assert prefetch_for(Local(), CommonSettings(prefetch=1)) == 1
