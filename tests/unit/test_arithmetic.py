"""Arithmetic asked aloud is answered exactly, and only a whole sum is taken."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from llm_worker import arithmetic, intents


@pytest.mark.parametrize(
    ("question", "spoken", "lang"),
    [
        ("Wie viel ist sieben mal acht?", "7 mal 8 ist 56.", "de"),
        ("Wieviel ist 7x8?", "7 mal 8 ist 56.", "de"),
        ("Was ist zwei plus drei mal vier?", "2 plus 3 mal 4 ist 14.", "de"),
        ("Was sind 3 und 4?", "3 plus 4 ist 7.", "de"),
        ("Rechne 100 geteilt durch 8", "100 geteilt durch 8 ist 12,5.", "de"),
        ("Was ist zehn geteilt durch drei?", "10 geteilt durch 3 ist ungefähr 3,33.", "de"),
        ("Was ist 2,5 mal 4?", "2,5 mal 4 ist 10.", "de"),
        ("Wie viel ist dreihundertzwölf minus einundzwanzig?", "312 minus 21 ist 291.", "de"),
        ("Was ist zweitausendfünf plus eins?", "2005 plus 1 ist 2006.", "de"),
        ("What's seven times eight?", "7 times 8 is 56.", "en"),
        ("What is 12 divided by 5?", "12 divided by 5 is 2.4.", "en"),
        ("How much is twenty-one plus one hundred and five?", "21 plus 105 is 126.", "en"),
        ("what is 7 - 3", "7 minus 3 is 4.", "en"),
        # As Whisper transcribed "Was ist sieben mal acht?" from a recording.
        ("Was ist siebenmal 8?", "7 mal 8 ist 56.", "de"),
        ("Wie viel ist dreimal zwölf?", "3 mal 12 ist 36.", "de"),
        ("Was ist einmal eins?", "1 mal 1 ist 1.", "de"),
    ],
)
def test_sums_are_answered_exactly(question: str, spoken: str, lang: str) -> None:
    assert arithmetic.answer(question) == (spoken, lang)


def test_division_by_zero_is_explained() -> None:
    assert arithmetic.answer("Was ist zehn durch null?") == (
        "Durch null kann man nicht teilen.",
        "de",
    )
    assert arithmetic.answer("What is 5 divided by 0?") == ("You can't divide by zero.", "en")


@pytest.mark.parametrize(
    "question",
    [
        "Was ist die Hauptstadt von Frankreich?",
        "Was ist ein Hund?",
        "What is a dog?",
        "Was ist drei hoch zwei?",  # not an operator we know: the model answers
        "Wie viel Uhr ist es?",
        "Zwei plus zwei ist vier, oder?",
        "Wer hat den Faust geschrieben?",
        "Was ist plus?",
        "Was ist sieben?",
        "Was ist nochmal 8?",  # "noch" is no number: "nochmal" stays one word
    ],
)
def test_anything_else_falls_through(question: str) -> None:
    assert arithmetic.answer(question) is None


@pytest.mark.parametrize(
    ("word", "value"),
    [("null", 0), ("siebzehn", 17), ("neunundneunzig", 99), ("hundert", 100),
     ("einhunderteins", 101), ("tausend", 1000), ("zwölftausenddreihundertvierzig", 12340),
     ("siebenundsiebzigtausend", 77000), ("undzwanzig", None), ("hundertelf", 111)],
)  # fmt: skip
def test_german_number_words(word: str, value: int | None) -> None:
    assert arithmetic.german_number(word) == value


def test_intents_answer_sums_in_the_turns_language_region() -> None:
    now = datetime(2026, 11, 27, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    local = intents.answer("What is six times seven?", now, "en-GB")
    assert local is not None
    assert (local.intent, local.text, local.language) == (
        intents.Intent.ARITHMETIC,
        "6 times 7 is 42.",
        "en-GB",
    )
    german = intents.answer("Was ist sechs mal sieben?", now, "en-GB")
    assert german is not None and german.language == "de-DE"
