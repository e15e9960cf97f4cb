"""Streamed backend calls: retried before the first piece, never after it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.retry import stream_with_retry


class Flaky(Exception):
    pass


def transient(_: BaseException) -> ErrorCategory:
    return ErrorCategory.TRANSIENT


def permanent(_: BaseException) -> ErrorCategory:
    return ErrorCategory.PERMANENT


def scripted(plans: list[list[str | Exception | float]]) -> tuple[list[int], object]:
    """Each attempt follows one plan: pieces to yield, exceptions to raise, pauses."""
    opened = [0]

    def open_stream(_: float) -> AsyncIterator[str]:
        plan = plans[opened[0]]
        opened[0] += 1

        async def run() -> AsyncIterator[str]:
            for step in plan:
                if isinstance(step, Exception):
                    raise step
                if isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    yield step

        return run()

    return opened, open_stream


async def collect(open_stream: object, **options: object) -> list[str]:
    settings: dict[str, object] = {
        "classify": transient,
        "attempts": 3,
        "attempt_timeout_s": 1.0,
        "deadline": time.time() + 5,
        "what": "test",
    } | options
    return [p async for p in stream_with_retry(open_stream, **settings)]  # type: ignore[arg-type]


async def test_failures_before_the_first_piece_are_retried() -> None:
    opened, open_stream = scripted([[Flaky()], [Flaky()], ["Hallo", " Welt"]])
    assert await collect(open_stream) == ["Hallo", " Welt"]
    assert opened == [3]


async def test_a_failure_after_the_first_piece_ends_the_turn_without_repeating_it() -> None:
    opened, open_stream = scripted([["Hallo", Flaky()], ["Hallo", " Welt"]])
    got: list[str] = []
    with pytest.raises(PipelineError) as caught:
        async for piece in stream_with_retry(
            open_stream,  # type: ignore[arg-type]
            classify=transient,
            attempts=3,
            attempt_timeout_s=1.0,
            deadline=time.time() + 5,
            what="test",
        ):
            got.append(piece)
    assert got == ["Hallo"]  # said once, not again from a second attempt
    assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
    assert opened == [1]


async def test_permanent_failures_are_not_retried() -> None:
    opened, open_stream = scripted([[Flaky()], ["nie"]])
    with pytest.raises(PipelineError) as caught:
        await collect(open_stream, classify=permanent)
    assert caught.value.code is ErrorCode.BACKEND_REJECTED
    assert opened == [1]


async def test_a_stalled_stream_is_bounded_per_piece_and_by_the_deadline() -> None:
    _, open_stream = scripted([["Hallo", 5.0, "zu spät"]] * 3)
    started = time.monotonic()
    with pytest.raises(PipelineError) as caught:
        await collect(open_stream, attempt_timeout_s=0.2)
    assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
    assert time.monotonic() - started < 1.0
    _, open_stream = scripted([[5.0]] * 3)
    started = time.monotonic()
    with pytest.raises(PipelineError) as caught:
        await collect(open_stream, attempt_timeout_s=2.0, deadline=time.time() + 0.3)
    assert caught.value.code in (ErrorCode.TIMEOUT, ErrorCode.BACKEND_UNAVAILABLE)
    assert time.monotonic() - started < 1.0
