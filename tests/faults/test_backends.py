"""Slow and failing backends, through the fakes, against the real processes.

A hanging Gemini ends the turn with a clear error within a stated bound; a 429 storm
from Gemini and 500s from the gRPC TTS open the worker's circuit breaker, so later
turns fail at once without reaching the backend; when the fake recovers, a probe
after the cooldown finds it back and turns are answered again.

Each test prints its figures as one JSON line (`pytest -s`); the README's "When a
backend fails" quotes them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.conftest import delete_topology
from tests.integration.stack import Service, Stack, ws_url

pytestmark = [pytest.mark.broker, pytest.mark.integration]

TURN_TIMEOUT_S = 10.0
SHORT_TURN_TIMEOUT_S = 3.0
CALL_TIMEOUT_S = 2.0
"""GEMINI_CALL_TIMEOUT_S and GOOGLE_CALL_TIMEOUT_S of the workers under test."""
ATTEMPTS = 3
BREAKER_FAILURES = 5
COOLDOWN_S = 3.0
WORKER_ENV = {
    "GEMINI_CALL_TIMEOUT_S": str(CALL_TIMEOUT_S),
    "GOOGLE_CALL_TIMEOUT_S": str(CALL_TIMEOUT_S),
    "GEMINI_ATTEMPTS": str(ATTEMPTS),
    "GOOGLE_ATTEMPTS": str(ATTEMPTS),
    "BREAKER_FAILURES": str(BREAKER_FAILURES),
    "BREAKER_COOLDOWN_S": str(COOLDOWN_S),
}
BACK_OFF_MAX_S = 0.2 + 0.4
"""The retries' back-off before the second and third attempts, at most (shared/retry.py)."""
FAIL_FAST_S = 1.0
"""An error from an open circuit reaches the watch within this (gateway → llm → tts →
gateway, no backend call: tens of milliseconds here; the bound allows a busy machine)."""


@pytest.fixture
def fakes() -> Iterator[tuple[FakeGoogleGrpc, FakeGemini]]:
    grpc_fake = FakeGoogleGrpc().start_in_background()
    gemini = FakeGemini().start_in_background()
    yield grpc_fake, gemini
    gemini.delay_s = 0.0
    gemini.failures.clear()
    grpc_fake.synthesize_failures.clear()
    grpc_fake.stop_background()
    gemini.stop_background()


@pytest.fixture
def stack(fakes: tuple[FakeGoogleGrpc, FakeGemini], tmp_path: Path) -> Iterator[Stack]:
    """llm and tts workers (typed questions skip stt) with short timeouts and cooldown,
    fresh per test so each starts with closed circuits."""
    prefix = f"fb{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, *fakes, tmp_path)
    stack.env |= WORKER_ENV
    try:
        stack.start_worker("llm_worker")
        stack.start_worker("tts_worker")
        yield stack
    finally:
        stack.stop_all()
        replies = [f"{prefix}.reply.{name}" for name in ("main", "short")]
        asyncio.run(delete_topology(prefix, replies))


def gateway(stack: Stack, name: str, turn_timeout_s: float) -> str:
    _, port = stack.start_gateway(name, GATEWAY_ID=name, TURN_TIMEOUT_S=str(turn_timeout_s))
    return ws_url(port)


async def timed_turn(
    ws: aiohttp.ClientWebSocketResponse, question: str
) -> tuple[dict[str, Any], float]:
    """Ask a typed question (protocol 1: exactly one reply); the reply and seconds taken."""
    started = time.perf_counter()
    await ws.send_str(json.dumps({"type": "text", "message": question}))
    message = await ws.receive(timeout=TURN_TIMEOUT_S + 10)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    reply: dict[str, Any] = json.loads(message.data)
    return reply, time.perf_counter() - started


def circuit_events(service: Service, backend: str) -> list[dict[str, Any]]:
    return [
        e
        for e in service.log_events()
        if str(e.get("event", "")).startswith("circuit") and e.get("backend") == backend
    ]


def assert_opened_then_closed(service: Service, backend: str) -> float:
    """The circuit's log: opened, probed, closed; how long it was open (seconds)."""
    names = [str(e["event"]) for e in circuit_events(service, backend)]
    assert names == ["circuit opened", "circuit half-open, probing", "circuit closed"], names
    return float(circuit_events(service, backend)[-1]["open_s"])


def ms(seconds: list[float]) -> list[int]:
    return [round(s * 1000) for s in seconds]


async def storm(
    ws: aiohttp.ClientWebSocketResponse,
    backend_requests: Any,
    backend_down: Any,
    backend_up: Any,
) -> dict[str, Any]:
    """The shared course of a storm: normal turns, the backend goes down, turns fail with
    retries until the circuit opens, then fail fast without a backend call; the backend
    comes back, and after the cooldown a probe answers and so do later turns."""
    normal = []
    for i in range(3):
        reply, took = await timed_turn(ws, f"Wie geht es dir, Nummer {i}?")
        assert "text_response" in reply, reply
        normal.append(took)

    backend_down()
    retried: list[float] = []
    fast: list[float] = []
    calls_while_open = None
    for i in range(12):
        before = backend_requests()
        reply, took = await timed_turn(ws, f"Bist du da, Nummer {i}?")
        assert reply.get("code") == "backend_unavailable", reply
        assert reply["error"] == "Der Sprachdienst ist gerade nicht erreichbar."
        if backend_requests() == before:  # failed without calling: the circuit is open
            fast.append(took)
            calls_while_open = (calls_while_open or 0) + backend_requests() - before
        else:
            assert not fast, "the backend was called again while the circuit was open"
            retried.append(took)
        if len(fast) == 5:
            break
    opened_after = len(retried)
    assert len(fast) == 5, f"the circuit never opened ({len(retried)} turns retried)"
    assert calls_while_open == 0
    assert max(fast) < FAIL_FAST_S, ms(fast)

    backend_up()
    reply, took = await timed_turn(ws, "Und jetzt?")  # within the cooldown: still open
    assert reply.get("code") == "backend_unavailable", reply
    await asyncio.sleep(COOLDOWN_S)
    probe_reply, probe_s = await timed_turn(ws, "Wieder da?")
    assert "text_response" in probe_reply, probe_reply
    after = []
    for i in range(3):
        reply, took = await timed_turn(ws, f"Alles gut, Nummer {i}?")
        assert "text_response" in reply, reply
        after.append(took)
    return {
        "normal_ms": ms(normal),
        "retried_error_ms": ms(retried),
        "turns_until_open": opened_after,
        "open_error_ms": ms(fast),
        "probe_answered_ms": ms([probe_s]),
        "answered_after_ms": ms(after),
        "open_error_p50_ms": round(statistics.median(fast) * 1000, 1),
        "retried_error_p50_ms": round(statistics.median(retried) * 1000, 1),
    }


async def test_a_gemini_429_storm_opens_the_circuit_and_a_probe_closes_it(
    stack: Stack, fakes: tuple[FakeGoogleGrpc, FakeGemini]
) -> None:
    _, gemini = fakes
    url = gateway(stack, "main", TURN_TIMEOUT_S)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        figures = await storm(
            ws,
            backend_requests=lambda: len(gemini.requests),
            backend_down=lambda: gemini.failures.extend([429] * 1000),
            backend_up=gemini.failures.clear,
        )
    # Every failed attempt counted: the circuit opened on the N-th, within ceil(N/3) turns.
    assert figures["turns_until_open"] == -(-BREAKER_FAILURES // ATTEMPTS)
    llm = stack.services["llm_worker"]
    figures["open_s"] = assert_opened_then_closed(llm, "gemini")
    failed = [e for e in llm.log_events() if e.get("event") == "turn failed"]
    assert any("circuit open" in str(e.get("detail")) for e in failed)
    print(json.dumps({"gemini_429_storm": figures}))


async def test_tts_500s_open_its_circuit_and_a_probe_closes_it(
    stack: Stack, fakes: tuple[FakeGoogleGrpc, FakeGemini]
) -> None:
    grpc_fake, gemini = fakes
    gemini.script = "Das ist eine kurze Antwort."  # one sentence: one synthesis per turn
    failures = [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE] * 500
    url = gateway(stack, "main", TURN_TIMEOUT_S)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        figures = await storm(
            ws,
            backend_requests=lambda: len(grpc_fake.synthesize_requests),
            backend_down=lambda: grpc_fake.synthesize_failures.extend(failures),
            backend_up=grpc_fake.synthesize_failures.clear,
        )
    assert figures["turns_until_open"] == -(-BREAKER_FAILURES // ATTEMPTS)
    figures["open_s"] = assert_opened_then_closed(stack.services["tts_worker"], "google tts")
    print(json.dumps({"tts_500s": figures}))


async def test_a_hanging_gemini_ends_the_turn_with_a_clear_error_in_time(
    stack: Stack, fakes: tuple[FakeGoogleGrpc, FakeGemini]
) -> None:
    _, gemini = fakes
    main = gateway(stack, "main", TURN_TIMEOUT_S)
    short = gateway(stack, "short", SHORT_TURN_TIMEOUT_S)
    gemini.delay_s = 60.0  # accepts the request, never answers in time
    # All attempts run out before the turn's deadline: backend_unavailable, within
    # attempts x call timeout + back-off (+1 s for the pipeline).
    bound_s = ATTEMPTS * CALL_TIMEOUT_S + BACK_OFF_MAX_S + 1.0
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(main) as ws:
            unavailable, unavailable_s = await timed_turn(ws, "Hängst du?")
        assert unavailable.get("code") == "backend_unavailable", unavailable
        assert ATTEMPTS * CALL_TIMEOUT_S <= unavailable_s < min(bound_s, TURN_TIMEOUT_S)
        assert len(gemini.requests) == ATTEMPTS
        # A turn deadline shorter than the attempts: `timeout` at the deadline, not later.
        async with http.ws_connect(short) as ws:
            timed_out, timed_out_s = await timed_turn(ws, "Und jetzt?")
            assert timed_out.get("code") == "timeout", timed_out
            assert SHORT_TURN_TIMEOUT_S <= timed_out_s < SHORT_TURN_TIMEOUT_S + 0.5
            with pytest.raises(asyncio.TimeoutError):  # nothing after the timeout
                extra = await ws.receive(timeout=2.0)
                pytest.fail(f"a frame after the timeout: {extra.data[:200]!r}")
        # Whole-timeout attempts count for the breaker (the one cut by the short
        # deadline does not): it opens, and a hanging backend then costs nothing.
        hung: list[float] = []
        async with http.ws_connect(main) as ws:
            for _ in range(3):
                before = len(gemini.requests)
                reply, took = await timed_turn(ws, "Immer noch?")
                assert reply.get("code") == "backend_unavailable", reply
                hung.append(took)
                if len(gemini.requests) == before:
                    break
            assert len(gemini.requests) == before, "the circuit never opened"
            assert hung[-1] < FAIL_FAST_S
            gemini.delay_s = 0.0
            await asyncio.sleep(COOLDOWN_S)
            answered, answered_s = await timed_turn(ws, "Wieder da?")
            assert "text_response" in answered, answered
    figures = {
        "open_s": assert_opened_then_closed(stack.services["llm_worker"], "gemini"),
        "hang_backend_unavailable_ms": ms([unavailable_s]),
        "bound_ms": ms([bound_s]),
        "hang_short_deadline_timeout_ms": ms([timed_out_s]),
        "hang_later_turns_ms": ms(hung),
        "answered_after_recovery_ms": ms([answered_s]),
    }
    print(json.dumps({"gemini_hang": figures}))
