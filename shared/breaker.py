"""A circuit breaker per remote backend: fail at once while it is down, probe it again.

Without it, every turn during an outage pays the full price of finding out: all its
retries with their backoff, or for a hanging backend its whole attempt timeouts, and
the backend (already rate-limiting us) gets three requests per turn. With it:

* **closed**: calls go through. `failures` transient failures in a row (429, 5xx,
  `UNAVAILABLE`, refused connections, an attempt that used its whole timeout) open it.
* **open**: calls fail at once with `backend_unavailable` ("circuit open"), without
  touching the backend, until `cooldown_s` has passed.
* **half-open**: one call, the probe, is let through; the others still fail at once.
  The probe answering closes the circuit; failing opens it for another cooldown.

Consecutive failures rather than a failure ratio over a window: a watch assistant's
traffic is a few turns a minute and bursty, so a window either holds too few calls to
mean anything or reacts minutes late, while "N in a row with no answer between" means
the same at any volume, and one answer is proof the backend is back.

A permanent failure (400, bad credentials, a refusal) counts as an answer: the backend
is up, the request was wrong, and failing other turns fast would not help anyone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.settings import CommonSettings

log = get_logger(__name__)


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(eq=False)
class CircuitBreaker:
    """One per backend instance (a process's Gemini client, its TTS client, …)."""

    name: str
    """The backend's name in logs and error details ("gemini", "google tts")."""
    failures: int = 5
    """Transient failures in a row that open the circuit; 0 never opens it."""
    cooldown_s: float = 10.0
    """How long an open circuit fails calls at once before it lets a probe through."""
    clock: Callable[[], float] = time.monotonic
    """Seconds, monotonic; tests inject their own."""
    _state: State = field(default=State.CLOSED, repr=False)
    _in_a_row: int = field(default=0, repr=False)
    _opened_at: float = field(default=0.0, repr=False)
    _probe: Attempt | None = field(default=None, repr=False)
    _probe_since: float = field(default=0.0, repr=False)

    @property
    def state(self) -> State:
        return self._state

    @classmethod
    def from_settings(cls, name: str, settings: CommonSettings) -> CircuitBreaker:
        return cls(name, settings.breaker_failures, settings.breaker_cooldown_s)

    def admit(self) -> Attempt:
        """Let one call through, or raise `backend_unavailable` at once while open.

        The caller must give the returned attempt its verdict (`succeeded`, `failed`)
        or, when it ends without one (cancelled, cut short), call `abandoned`.
        """
        now = self.clock()
        if self._state is State.OPEN and now - self._opened_at >= self.cooldown_s:
            self._state = State.HALF_OPEN
            self._probe = None
            log.info("circuit half-open, probing", backend=self.name)
        if self._state is State.HALF_OPEN:
            # One probe at a time; a probe that never reported back (a leaked call)
            # is given up after a cooldown, so the circuit cannot stay stuck.
            if self._probe is None or now - self._probe_since >= self.cooldown_s:
                self._probe, self._probe_since = Attempt(self, probe=True), now
                return self._probe
            raise self._open_error("probe in flight")
        if self._state is State.OPEN:
            raise self._open_error(f"next probe in {self._cooldown_left(now):.1f} s")
        return Attempt(self, probe=False)

    def _cooldown_left(self, now: float) -> float:
        return max(0.0, self.cooldown_s - (now - self._opened_at))

    def _open_error(self, why: str) -> PipelineError:
        return PipelineError(
            ErrorCode.BACKEND_UNAVAILABLE,
            ErrorCategory.TRANSIENT,
            f"{self.name}: circuit open ({why})",
        )

    def _succeeded(self, attempt: Attempt) -> None:
        self._in_a_row = 0
        if attempt is self._probe:
            self._probe = None
        if self._state is not State.CLOSED:
            # Any answer closes it, the probe's or one of a call admitted before it opened.
            log.info(
                "circuit closed",
                backend=self.name,
                open_s=round(self.clock() - self._opened_at, 3),
            )
            self._state = State.CLOSED

    def _failed(self, attempt: Attempt, error: str) -> None:
        self._in_a_row += 1
        if attempt is self._probe:
            self._probe = None
            self._open(f"probe failed: {error}")
        elif self._state is State.CLOSED and self.failures and self._in_a_row >= self.failures:
            self._open(error)
        # Otherwise a call admitted before the circuit opened: the probe decides.

    def _abandoned(self, attempt: Attempt) -> None:
        if attempt is self._probe:
            self._probe = None  # the next call may probe

    def _open(self, error: str) -> None:
        self._state = State.OPEN
        self._opened_at = self.clock()
        log.warning(
            "circuit opened",
            backend=self.name,
            failures_in_a_row=self._in_a_row,
            cooldown_s=self.cooldown_s,
            error=error[:300],
        )


@dataclass(eq=False)
class Attempt:
    """One admitted call; its first verdict counts, later ones are ignored."""

    breaker: CircuitBreaker
    probe: bool
    settled: bool = False

    def succeeded(self) -> None:
        """The backend answered (a permanent refusal counts: the backend is up)."""
        if not self.settled:
            self.settled = True
            self.breaker._succeeded(self)

    def failed(self, error: str = "") -> None:
        """A transient failure: no answer, 429, 5xx, a whole attempt timeout."""
        if not self.settled:
            self.settled = True
            self.breaker._failed(self, error)

    def abandoned(self) -> None:
        """No verdict: cancelled, or cut short by the turn's deadline."""
        if not self.settled:
            self.settled = True
            self.breaker._abandoned(self)
