"""Bounded retries for backend calls: transient failures again, permanent ones never.

Every attempt is bounded by its own timeout and all attempts together by the turn's
deadline, so a stuck backend costs at most the turn's remaining time. Each attempt
goes through the backend's circuit breaker (`shared.breaker`): while the backend is
down, a call fails at once instead of retrying into it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from shared.breaker import Attempt, CircuitBreaker, State
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.observe import BACKEND_CALLS, BACKEND_ERRORS

log = get_logger(__name__)

T = TypeVar("T")

BASE_DELAY_S = 0.2
MAX_DELAY_S = 2.0


async def _back_off(attempt: int, deadline: float, what: str, detail: str) -> None:
    """Wait before the next attempt: exponential with jitter, never past the deadline."""
    delay = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
    delay = min(delay, max(0.0, deadline - time.time()))
    log.warning(
        "transient backend failure, retrying",
        backend=what,
        attempt=attempt,
        retry_in_s=round(delay, 3),
        error=detail,
    )
    await asyncio.sleep(delay)


DEADLINE_SLACK_S = 0.1
"""A failure this close to the deadline is taken as the deadline's doing (gRPC's own
DEADLINE_EXCEEDED comes a moment before our timeout would)."""


def _verdict(
    admitted: Attempt, category: ErrorCategory, cut_short: bool, deadline: float, detail: str
) -> None:
    """Tell the breaker how a failed attempt ended. A refusal is an answer (the backend
    is up). A transient failure counts against the backend, except one that ran into
    the turn's deadline with less than its whole attempt timeout: a turn that arrived
    late proves nothing about the backend."""
    if category is ErrorCategory.PERMANENT:
        admitted.succeeded()
    elif cut_short and time.time() >= deadline - DEADLINE_SLACK_S:
        admitted.abandoned()
    else:
        admitted.failed(detail)


async def call_with_retry(
    call: Callable[[float], Awaitable[T]],
    *,
    classify: Callable[[BaseException], ErrorCategory],
    attempts: int,
    attempt_timeout_s: float,
    deadline: float,
    what: str,
    breaker: CircuitBreaker | None = None,
) -> T:
    """Run `call(timeout_s)` until it succeeds, fails permanently, or time runs out.

    Raises `PipelineError`: BACKEND_REJECTED for a permanent failure, BACKEND_UNAVAILABLE
    when transient failures used up the attempts or `breaker` is open (at once, without
    calling), TIMEOUT when the deadline came first.
    """
    breaker = breaker or CircuitBreaker(what, failures=0)
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        timeout_s = min(attempt_timeout_s, remaining)
        admitted = breaker.admit()
        BACKEND_CALLS.labels(what).inc()
        try:
            async with asyncio.timeout(timeout_s):
                result = await call(timeout_s)
            admitted.succeeded()
            return result
        except Exception as exc:
            last = exc
            category = ErrorCategory.TRANSIENT if isinstance(exc, TimeoutError) else classify(exc)
            detail = f"{what}: {type(exc).__name__}: {exc}"[:500]
            BACKEND_ERRORS.labels(what, category.value).inc()
            _verdict(admitted, category, timeout_s < attempt_timeout_s, deadline, detail)
        finally:
            admitted.abandoned()  # cancelled: no verdict (a no-op after one)
        if category is ErrorCategory.PERMANENT:
            raise PipelineError(ErrorCode.BACKEND_REJECTED, category, detail) from last
        if attempt == attempts or breaker.state is not State.CLOSED:
            # Out of attempts, or this failure opened the circuit: no point waiting.
            raise PipelineError(ErrorCode.BACKEND_UNAVAILABLE, category, detail) from last
        await _back_off(attempt, deadline, what, detail)
    raise PipelineError(
        ErrorCode.TIMEOUT, ErrorCategory.TRANSIENT, f"{what}: deadline reached ({last!r})"
    )


async def run_local(
    call: Callable[..., T], *args: object, lock: asyncio.Lock, deadline: float, what: str
) -> T:
    """Run a blocking local-model call in a thread, one at a time under `lock` (the
    model gets both cores), bounded by the turn's deadline: TIMEOUT past it."""
    async with lock:
        BACKEND_CALLS.labels(what).inc()
        try:
            async with asyncio.timeout(max(0.1, deadline - time.time())):
                return await asyncio.to_thread(call, *args)
        except TimeoutError:
            BACKEND_ERRORS.labels(what, ErrorCategory.TRANSIENT.value).inc()
            raise PipelineError(
                ErrorCode.TIMEOUT, ErrorCategory.TRANSIENT, f"{what} ran past deadline"
            ) from None


async def stream_with_retry(
    open_stream: Callable[[float], AsyncIterator[str]],
    *,
    classify: Callable[[BaseException], ErrorCategory],
    attempts: int,
    attempt_timeout_s: float,
    deadline: float,
    what: str,
    breaker: CircuitBreaker | None = None,
) -> AsyncIterator[str]:
    """Yield the pieces of `open_stream(timeout_s)`, retrying like `call_with_retry`
    only until the first piece arrives: after that, what was yielded is already on its
    way to the watch, so a failure ends the turn instead of repeating the answer. Each
    piece must come within `attempt_timeout_s` of the last, and all before `deadline`.
    For `breaker`, an attempt's first piece is its answer.
    """
    breaker = breaker or CircuitBreaker(what, failures=0)
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        first_wait_s = min(attempt_timeout_s, remaining)
        admitted = breaker.admit()
        BACKEND_CALLS.labels(what).inc()
        stream = open_stream(first_wait_s)
        started = False
        try:
            while True:
                wait_s = min(attempt_timeout_s, deadline - time.time())
                if wait_s <= 0:
                    raise TimeoutError("deadline reached while streaming")
                try:
                    piece = await asyncio.wait_for(anext(stream), wait_s)
                except StopAsyncIteration:
                    admitted.succeeded()
                    return
                admitted.succeeded()
                started = True
                yield piece
        except Exception as exc:
            last = exc
            category = ErrorCategory.TRANSIENT if isinstance(exc, TimeoutError) else classify(exc)
            detail = f"{what}: {type(exc).__name__}: {exc}"[:500]
            BACKEND_ERRORS.labels(what, category.value).inc()
            _verdict(admitted, category, first_wait_s < attempt_timeout_s, deadline, detail)
            if started and time.time() >= deadline:
                raise PipelineError(ErrorCode.TIMEOUT, ErrorCategory.TRANSIENT, detail) from exc
            if category is ErrorCategory.PERMANENT:
                raise PipelineError(ErrorCode.BACKEND_REJECTED, category, detail) from exc
            if started or attempt == attempts or breaker.state is not State.CLOSED:
                raise PipelineError(ErrorCode.BACKEND_UNAVAILABLE, category, detail) from exc
            await _back_off(attempt, deadline, what, detail)
        finally:
            admitted.abandoned()  # cancelled or closed early: no verdict (no-op after one)
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    raise PipelineError(
        ErrorCode.TIMEOUT, ErrorCategory.TRANSIENT, f"{what}: deadline reached ({last!r})"
    )
