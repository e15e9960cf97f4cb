"""The gateway's limits (`gateway.limits`) with a clock the test moves by hand."""

from __future__ import annotations

import json

import pytest

from gateway import frames
from gateway.limits import (
    Admission,
    ConnectionCounter,
    IdleSweeper,
    QueueDepthWatcher,
    RateLimiter,
    Refusal,
    Ticket,
)
from gateway.protocol import Limits, recording
from shared.contracts import Stage
from shared.errors import ErrorCode, PipelineError
from shared.settings import GatewaySettings
from shared.topology import Topology
from tests.fakes.audio import webm_opus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _noop() -> None:
    return None


def ticket(identity: str = "uhr", address: str = "10.0.0.1", at: float = 0.0) -> Ticket:
    return Ticket(identity, address, at, _noop)


def test_a_burst_is_allowed_then_the_rate_with_the_exact_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=3, clock=clock)  # one token per 10 s
    assert [limiter.take("uhr") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("uhr") == pytest.approx(10.0)
    clock.now += 4
    assert limiter.take("uhr") == pytest.approx(6.0)  # a refused question takes nothing
    clock.now += 6
    assert limiter.take("uhr") == 0.0
    assert limiter.take("uhr") == pytest.approx(10.0)


def test_identities_have_buckets_of_their_own() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0


def test_the_bucket_refills_only_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.take("uhr")
    clock.now += 3600  # an hour of quiet earns no more than the burst
    assert [limiter.take("uhr") for _ in range(3)][-1] == pytest.approx(1.0)


def test_a_rate_of_zero_is_no_limit() -> None:
    limiter = RateLimiter(per_minute=0, burst=1, clock=Clock())
    assert all(limiter.take("uhr") == 0.0 for _ in range(1000))


def test_full_buckets_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    for i in range(100):
        limiter.take(f"watch-{i}")
    assert len(limiter) == 100
    clock.now += 2.0  # all refilled
    limiter.take("new")
    assert len(limiter) == 1


def test_connections_are_capped_per_gateway_identity_and_address() -> None:
    counter = ConnectionCounter(total=4, per_identity=2, per_address=3)
    first, second = ticket("a", "1.1.1.1"), ticket("a", "1.1.1.1")
    assert counter.admit(first) is None and counter.admit(second) is None
    assert counter.admit(ticket("a", "2.2.2.2")) == Refusal(ErrorCode.TOO_MANY_CONNECTIONS)
    assert counter.admit(ticket("b", "1.1.1.1")) is None
    assert counter.admit(ticket("c", "1.1.1.1")) is not None  # the address is full
    assert counter.admit(ticket("c", "3.3.3.3")) is None
    assert counter.admit(ticket("d", "4.4.4.4")) is not None  # the gateway is full
    counter.release(first)
    counter.release(first)  # twice is harmless
    assert counter.of_identity("a") == 1 and counter.of_address("1.1.1.1") == 2
    assert counter.admit(ticket("a", "5.5.5.5")) is None


def test_zero_means_no_limit_per_identity_and_address() -> None:
    counter = ConnectionCounter(total=100, per_identity=0, per_address=0)
    assert all(counter.admit(ticket()) is None for _ in range(100))
    assert counter.admit(ticket()) is not None


def test_an_unknown_identity_counts_only_once_it_is_known() -> None:
    counter = ConnectionCounter(total=10, per_identity=1, per_address=0)
    waiting = [ticket(""), ticket("")]  # sockets whose hello with a token is to come
    assert all(counter.admit(t) is None for t in waiting)
    assert counter.identify(waiting[0], "uhr") is None
    assert counter.identify(waiting[1], "uhr") == Refusal(ErrorCode.TOO_MANY_CONNECTIONS)
    assert counter.of_identity("uhr") == 1 and waiting[1].identity == ""
    counter.release(waiting[0])
    counter.release(waiting[1])
    assert counter.of_identity("uhr") == 0 and not counter.tickets


def test_the_sweeper_finds_idle_connections_once_and_spares_busy_ones() -> None:
    clock = Clock()
    counter = ConnectionCounter(total=10, per_identity=0, per_address=0)
    sweeper = IdleSweeper(counter, timeout_s=60, clock=clock)
    quiet, waiting, talking = ticket(at=clock.now), ticket(at=clock.now), ticket(at=clock.now)
    answered = False
    waiting.busy = lambda: not answered
    for t in (quiet, waiting, talking):
        counter.admit(t)
    clock.now += 59
    talking.last_frame = clock.now
    assert sweeper.idle() == []
    clock.now += 1
    assert sweeper.idle() == [quiet]
    assert sweeper.idle() == []  # being closed: not reported again
    clock.now += 30
    assert sweeper.idle() == []  # still waiting for its answer
    answered = True
    assert sweeper.idle() == []  # its answer is in: idle from now
    clock.now += 59
    talking.last_frame = clock.now
    assert sweeper.idle() == []
    clock.now += 1
    assert sweeper.idle() == [waiting]
    assert sweeper.interval_s == 5.0


def test_the_sweeper_releases_tickets_whose_socket_is_gone() -> None:
    counter = ConnectionCounter(total=10, per_identity=0, per_address=0)
    sweeper = IdleSweeper(counter, timeout_s=0, clock=Clock())  # no idle timeout
    lost = ticket("uhr")
    lost.gone = lambda: True
    counter.admit(lost)
    counter.admit(ticket("uhr"))
    assert sweeper.idle() == []
    assert counter.of_identity("uhr") == 1


def depth_watcher(threshold: int, depths: dict[Stage, int]) -> QueueDepthWatcher:
    watcher = QueueDepthWatcher(Topology("t"), threshold)
    watcher.depths = depths
    return watcher


def test_overload_is_judged_by_the_stages_a_turn_passes() -> None:
    watcher = depth_watcher(5, {Stage.STT: 7, Stage.LLM: 4, Stage.TTS: 0})
    assert watcher.overloaded((Stage.STT, Stage.LLM, Stage.TTS)) is Stage.STT
    assert watcher.overloaded((Stage.LLM, Stage.TTS)) is None  # typed text skips stt
    assert depth_watcher(0, {Stage.LLM: 10**6}).overloaded(Stage) is None  # 0: off
    assert depth_watcher(5, {}).overloaded(Stage) is None  # unknown depths refuse nothing


def test_admission_checks_overload_before_it_takes_a_token() -> None:
    clock = Clock()
    settings = GatewaySettings(questions_per_minute=60, question_burst=1, overload_queue_depth=3)
    admission = Admission(settings, clock)
    admission.queues.depths = {Stage.LLM: 3}
    assert admission.turn("uhr", spoken=False) == Refusal(ErrorCode.OVERLOADED)
    admission.queues.depths = {Stage.LLM: 2}
    assert admission.turn("uhr", spoken=False) is None  # its token was still there
    clock.now += 0.3
    assert admission.turn("uhr", spoken=True) == Refusal(ErrorCode.RATE_LIMITED, 1)


def test_the_refusal_frames_carry_code_sentence_and_retry_after() -> None:
    limited = json.loads(frames.refused(ErrorCode.RATE_LIMITED, 2, 12))
    assert limited == {
        "type": "error",
        "error": "Zu viele Fragen in kurzer Zeit. Bitte warte 12 Sekunden.",
        "code": "rate_limited",
        "retry_after": 12,
    }
    one = json.loads(frames.refused(ErrorCode.RATE_LIMITED, 1, 0.4))
    assert one["retry_after"] == 1 and one["error"].endswith("Bitte warte 1 Sekunde.")
    assert "type" not in one  # protocol 1's shape
    full = json.loads(frames.refused(ErrorCode.TOO_MANY_CONNECTIONS, 2))
    assert full["code"] == "too_many_connections" and "retry_after" not in full


def test_a_recording_over_the_byte_limit_is_too_large_before_it_is_probed() -> None:
    clip = webm_opus("Hallo", seconds=1.0)
    limits = Limits(max_audio_bytes=len(clip) - 1)
    with pytest.raises(PipelineError) as caught:
        recording(clip, limits)
    assert caught.value.code is ErrorCode.TOO_LARGE
    assert caught.value.message.startswith("Die Aufnahme ist zu groß (höchstens ")
    garbage = bytes(5_000_000)  # not even WebM: the size decides first
    with pytest.raises(PipelineError) as caught:
        recording(garbage, Limits())
    assert caught.value.message == "Die Aufnahme ist zu groß (höchstens 4,2 MB)."
    assert recording(clip, Limits(max_audio_bytes=len(clip))).info.duration_s > 0.9
