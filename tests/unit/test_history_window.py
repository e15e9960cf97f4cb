"""The local model's window of a session's history moves on in jumps, so the evaluated
start of the prompt stays the same from one turn to the next."""

from __future__ import annotations

from llm_worker.llama import HistoryWindow
from shared.history import Exchange


def exchanges(n: int, start: int = 0) -> list[Exchange]:
    return [Exchange(f"t{i}", f"F{i}", f"A{i}", float(i)) for i in range(start, start + n)]


def ids(window: list[Exchange]) -> list[str]:
    return [e.turn_id for e in window]


def test_a_short_history_is_shown_whole() -> None:
    window = HistoryWindow(8)
    assert ids(window(exchanges(3))) == ["t0", "t1", "t2"]
    assert window([]) == []


def test_the_window_keeps_its_start_then_jumps_to_half() -> None:
    window = HistoryWindow(8)
    starts = []
    for n in range(1, 21):
        # The store keeps the newest 20 of them (its own cap), oldest first.
        shown = window(exchanges(min(n, 20), max(0, n - 20)))
        assert 1 <= len(shown) <= 8
        assert shown[-1].turn_id == f"t{n - 1}"  # always up to the newest
        starts.append(shown[0].turn_id)
    # The start changes only when the window would hold 9: it then shows the newest 4
    # and grows again, so it moves every 5 turns.
    changes = [n + 1 for n in range(1, 20) if starts[n] != starts[n - 1]]
    assert changes == [9, 14, 19]
    assert starts[8] == "t5"  # the ninth turn shows the newest four


def test_the_window_survives_the_store_dropping_old_exchanges() -> None:
    window = HistoryWindow(8)
    window(exchanges(20, 30))  # t30..t49: jumps to the newest four, t46..t49
    assert ids(window(exchanges(20, 31)))[0] == "t46"  # t30 dropped: start unchanged


def test_another_session_gets_its_own_window() -> None:
    window = HistoryWindow(8)
    window(exchanges(6))
    other = [Exchange(f"o{i}", "F", "A", 0.0) for i in range(10)]
    assert ids(window(other)) == ["o6", "o7", "o8", "o9"]  # the newest half


def test_no_history_turns_means_none() -> None:
    assert HistoryWindow(0)(exchanges(3)) == []
