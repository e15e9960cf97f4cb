"""Days left until a holiday or a date (`llm_worker.countdown`), and its place among
the local intents."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from llm_worker import countdown, intents

TODAY = date(2026, 11, 28)


def days_in(text: str) -> int:
    """The first count of days an answer names."""
    found = re.search(r"(\d+) (Tage|days)", text)
    assert found is not None, text
    return int(found[1])


@pytest.mark.parametrize(
    ("question", "target"),
    [
        ("Wie viele Tage sind es noch bis Weihnachten?", date(2026, 12, 25)),
        ("Wieviele Tage noch bis Weihnachten", date(2026, 12, 25)),
        ("Wie lange dauert es noch bis Silvester?", date(2026, 12, 31)),
        ("Wie viele Tage haben wir noch bis Neujahr?", date(2027, 1, 1)),
        ("Wie viele Tage bis Heiligabend?", date(2026, 12, 24)),
        ("Wie viele Tage bis zum 24. Dezember?", date(2026, 12, 24)),
        ("Wie viele Tage sind es bis zum 24.12.?", date(2026, 12, 24)),
        ("Wie viele Tage bis zum 1. Mai?", date(2027, 5, 1)),
        ("Wie viele Tage noch bis Ostern?", date(2027, 3, 28)),
        # Whisper's "Ostern" in one recording (the model said "noch 12 Stunden bis Osten").
        ("Wie lange dauert es noch bis Osten?", date(2027, 3, 28)),
        ("Wie lange ist es noch bis zum Tag der Deutschen Einheit?", date(2027, 10, 3)),
        ("Wie viele Tage bis Nikolaus?", date(2026, 12, 6)),
        ("How many days until Christmas?", date(2026, 12, 25)),
        ("How many days are left until New Year's Eve?", date(2026, 12, 31)),
        ("How many more days till Christmas Eve?", date(2026, 12, 24)),
        ("How long until Easter?", date(2027, 3, 28)),
        ("How many days until December 24th?", date(2026, 12, 24)),
        ("How many days till the 1st of May?", date(2027, 5, 1)),
        ("How many days are there until Halloween?", date(2027, 10, 31)),
    ],
)
def test_the_days_left_are_counted_from_today(question: str, target: date) -> None:
    found = countdown.answer(question, TODAY)
    assert found is not None, question
    text, lang = found
    assert lang == ("en" if question.startswith("How") else "de")
    assert days_in(text) == (target - TODAY).days
    assert str(target.day) in text  # the date is said too


def test_christmas_in_german_names_christmas_eve_as_well() -> None:
    found = countdown.answer("Wie viele Tage bis Weihnachten?", TODAY)
    assert found is not None
    assert found[0].endswith(f"Bis Heiligabend sind es {(date(2026, 12, 24) - TODAY).days} Tage.")


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 12, 25), ("Heute ist Weihnachten.", "Today is Christmas.")),
        (date(2026, 12, 24), ("Morgen ist Weihnachten.", "Christmas is tomorrow, on December 25.")),
    ],
)
def test_today_and_tomorrow_are_said_so(today: date, expected: tuple[str, str]) -> None:
    german = countdown.answer("Wie viele Tage bis Weihnachten?", today)
    english = countdown.answer("How many days until Christmas?", today)
    assert (german and german[0], english and english[0]) == expected


def test_after_the_day_it_is_next_years() -> None:
    found = countdown.answer("How many days until Christmas?", date(2026, 12, 26))
    assert found is not None
    assert days_in(found[0]) == (date(2027, 12, 25) - date(2026, 12, 26)).days


@pytest.mark.parametrize(
    ("today", "leap_day"),
    # 2100 is divisible by 4 but not a leap year: the next one after 2096 is 2104.
    [(TODAY, date(2028, 2, 29)), (date(2097, 3, 1), date(2104, 2, 29))],
)
def test_february_29_is_the_next_leap_years(today: date, leap_day: date) -> None:
    found = countdown.answer("Wie viele Tage bis zum 29. Februar?", today)
    assert found is not None
    assert days_in(found[0]) == (leap_day - today).days


@pytest.mark.parametrize(
    "sunday",
    # Published Easter Sundays, the earliest and the latest possible among them.
    [date(2024, 3, 31), date(2025, 4, 20), date(2026, 4, 5), date(2038, 4, 25), date(2285, 3, 22)],
)
def test_easter(sunday: date) -> None:
    assert countdown.easter(sunday.year) == sunday


@pytest.mark.parametrize(
    "question",
    [
        "Wie viele Tage hat ein Schaltjahr?",
        "Wie viele Tage hat der Februar?",
        "Wann ist Weihnachten?",
        "Wie viele Tage bis zu meinem Geburtstag?",
        "Wie viele Tage bis Pfingsten?",
        "Wie viele Tage bis zum 30. Februar?",
        "Wie lange brauche ich bis Berlin?",
        "How many days are in a week?",
        "How many days until my vacation?",
        "How long does it take to drive to Munich?",
        "Was machst du an Weihnachten?",
    ],
)
def test_other_questions_are_left_to_the_model(question: str) -> None:
    assert countdown.answer(question, TODAY) is None


def test_counted_in_the_watchs_zone() -> None:
    """Half an hour before midnight in Berlin it is still the 24th there."""
    now = datetime(2026, 12, 24, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    found = intents.answer("Wie viele Tage sind es noch bis Weihnachten?", now, "de-DE")
    assert found is not None
    assert (found.intent, found.text, found.language) == (
        intents.Intent.DAYS_UNTIL,
        "Morgen ist Weihnachten.",
        "de-DE",
    )
