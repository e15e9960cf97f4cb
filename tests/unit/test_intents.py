"""Time and date questions answered from the clock; everything else left to the model."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from llm_worker import clock, intents
from llm_worker.intents import Intent

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 27, 9, 41, tzinfo=BERLIN)  # a Friday

GERMAN_TIME = [
    "Wie spät ist es?",
    "Wie spät ist es jetzt?",
    "wie spät ist es gerade",
    "Wie spät haben wir?",
    "Wie viel Uhr ist es?",
    "Wieviel Uhr ist es?",
    "Wie viel Uhr haben wir?",
    "Wie viel Uhr?",
    "Wie spät?",
    "Uhrzeit?",
    "Uhrzeit bitte.",
    "Was ist die Uhrzeit?",
    "Welche Uhrzeit haben wir?",
    "Welche Uhrzeit ist es denn?",
    "Sag mir die Uhrzeit.",
    "Sag mal, wie spät ist es?",
    "Kannst du mir sagen, wie spät es ist?",
    "Könntest du mir bitte sagen, wie viel Uhr es ist?",
    "Weißt du, wie spät es ist?",
    "Hey Uhrwerk, wie spät ist es?",
    "Hast du die Uhrzeit?",
    "Kannst du mir die Uhrzeit sagen?",
    "Wie spät ist es eigentlich?",
    "Nenn mir die aktuelle Uhrzeit.",
]
GERMAN_DATE = [
    ("Welches Datum haben wir heute?", 0),
    ("Welches Datum ist heute?", 0),
    ("Welcher Tag ist heute?", 0),
    ("Welchen Tag haben wir heute?", 0),
    ("Welcher Wochentag ist heute?", 0),
    ("Was für ein Tag ist heute?", 0),
    ("Was ist heute für ein Tag?", 0),
    ("Was haben wir heute für ein Datum?", 0),
    ("Den Wievielten haben wir heute?", 0),
    ("Der Wievielte ist heute?", 0),
    ("Den Wievielten haben wir?", 0),
    ("Den wie vielten haben wir heute?", 0),  # Whisper's spelling
    ("Was ist das heutige Datum?", 0),
    ("Datum?", 0),
    ("Das Datum bitte.", 0),
    ("Welcher Tag ist morgen?", 1),
    ("Welches Datum ist morgen?", 1),
    ("Was für ein Tag ist übermorgen?", 2),
    ("Welcher Tag war gestern?", -1),
    ("Welches Datum war vorgestern?", -2),
    ("Kannst du mir sagen, welcher Tag heute ist?", 0),
    ("Weißt du, welches Datum wir heute haben?", 0),
]
ENGLISH_TIME = [
    "What time is it?",
    "What time is it now?",
    "What time is it right now?",
    "what's the time",
    "What is the time?",
    "What's the current time?",
    "What time do we have?",
    "What hour is it?",
    "Time?",
    "Time please.",
    "Hey Uhrwerk, what time is it?",
    "Can you tell me what time it is?",
    "Could you tell me the time, please?",
    "Do you know what time it is?",
    "Do you have the time?",
    "Got the time?",
    "Tell me the time.",
    "Excuse me, what time is it?",
    "What time is it exactly?",
    "I'd like to know the time.",
]
ENGLISH_DATE = [
    ("What's the date?", 0),
    ("What is the date today?", 0),
    ("What's today's date?", 0),
    ("What date is it?", 0),
    ("What date is it today?", 0),
    ("What day is it?", 0),
    ("What day is it today?", 0),
    ("What day is today?", 0),
    ("What day of the week is it?", 0),
    ("Which day is today?", 0),
    ("Date?", 0),
    ("What is today?", 0),
    ("What day is tomorrow?", 1),
    ("What's tomorrow's date?", 1),
    ("What day was yesterday?", -1),
    ("What day will it be the day after tomorrow?", 2),
    ("Can you tell me today's date?", 0),
    ("Do you know what day it is?", 0),
    ("Tell me the date, please.", 0),
    ("What is yesterday's date?", -1),
]
NOT_LOCAL = [
    "Wie spät ist es in Tokio?",
    "Wie viel Uhr ist es in New York?",
    "Was ist die Uhrzeit in London?",
    "Wann ist Weihnachten?",
    "Welcher Tag ist Weihnachten?",
    "Wie viele Tage sind es bis Weihnachten?",
    "Um wie viel Uhr geht die Sonne unter?",
    "Stell einen Wecker auf sieben Uhr.",
    "Erinnere mich morgen um neun Uhr.",
    "Wie wird das Wetter morgen?",
    "Welcher Wochentag war der 1. Januar 2000?",
    "Ist es schon zu spät, um anzurufen?",
    "Wie lange dauert ein Tag auf dem Mars?",
    "Was ist heute los in Hamburg?",
    "Welche Uhr ist die beste?",
    "Wie viele Stunden hat ein Tag?",
    "Wer hat die Uhr erfunden?",
    "Guten Morgen!",
    "Was war gestern in den Nachrichten?",
    "Wann hat die Bäckerei heute geöffnet?",
    "Wie spät ist es, wenn es in Berlin zwölf Uhr ist, in Tokio?",
    "What time is it in Tokyo?",
    "What time does the bakery close?",
    "What time is sunset today?",
    "When is Christmas?",
    "What day is Christmas this year?",
    "How many days until Friday?",
    "Set a timer for ten minutes.",
    "How much time do I have left?",
    "Is it time to go?",
    "What time zone am I in?",
    "What day of the week was July 4, 1776?",
    "What is the capital of France?",
    "Tell me a joke.",
    "What's the weather tomorrow?",
    "What time is the game tonight?",
    "Who invented the clock?",
    "What was the date of the moon landing?",
    "Date night ideas?",
    "",
]


@pytest.mark.parametrize("question", GERMAN_TIME)
def test_german_time_questions_are_answered_from_the_clock(question: str) -> None:
    found = intents.answer(question, NOW, "de-DE")
    assert found is not None, question
    assert found.intent is Intent.TIME
    assert found.text == "Es ist 9 Uhr 41."
    assert found.language == "de-DE"


@pytest.mark.parametrize(("question", "days"), GERMAN_DATE)
def test_german_date_questions(question: str, days: int) -> None:
    found = intents.answer(question, NOW, "de-DE")
    assert found is not None, question
    assert found.intent is Intent.DATE
    expected = {
        0: "Heute ist Freitag, der 27. November 2026.",
        1: "Morgen ist Samstag, der 28. November 2026.",
        2: "Übermorgen ist Sonntag, der 29. November 2026.",
        -1: "Gestern war Donnerstag, der 26. November 2026.",
        -2: "Vorgestern war Mittwoch, der 25. November 2026.",
    }[days]
    assert found.text == expected


@pytest.mark.parametrize("question", ENGLISH_TIME)
def test_english_time_questions(question: str) -> None:
    found = intents.answer(question, NOW, "de-DE")
    assert found is not None, question
    assert found.intent is Intent.TIME
    assert found.text == "It's 9:41 AM."
    # Asked in English on a German deployment: answered, and spoken, in English.
    assert found.language == "en-US"


@pytest.mark.parametrize(("question", "days"), ENGLISH_DATE)
def test_english_date_questions(question: str, days: int) -> None:
    found = intents.answer(question, NOW, "en-GB")
    assert found is not None, question
    assert found.intent is Intent.DATE
    expected = {
        0: "Today is Friday, November 27, 2026.",
        1: "Tomorrow is Saturday, November 28, 2026.",
        2: "The day after tomorrow is Sunday, November 29, 2026.",
        -1: "Yesterday was Thursday, November 26, 2026.",
    }[days]
    assert found.text == expected
    assert found.language == "en-GB"  # the session's region is kept


@pytest.mark.parametrize("question", NOT_LOCAL)
def test_other_questions_are_left_to_the_model(question: str) -> None:
    assert intents.answer(question, NOW, "de-DE") is None


@pytest.mark.parametrize(
    ("hour", "minute", "german", "english"),
    [
        (0, 5, "Es ist 0 Uhr 5.", "It's 12:05 AM."),
        (12, 0, "Es ist 12 Uhr.", "It's 12 PM."),
        (14, 30, "Es ist 14 Uhr 30.", "It's 2:30 PM."),
        (23, 59, "Es ist 23 Uhr 59.", "It's 11:59 PM."),
    ],
)
def test_times_are_phrased_for_speaking(hour: int, minute: int, german: str, english: str) -> None:
    now = NOW.replace(hour=hour, minute=minute)
    de, en = (
        intents.answer("Wie spät ist es?", now, ""),
        intents.answer("What time is it?", now, ""),
    )
    assert de is not None and en is not None
    assert (de.text, en.text) == (german, english)


def test_the_answer_follows_the_watchs_zone() -> None:
    tokyo = NOW.astimezone(ZoneInfo("Asia/Tokyo"))  # 17:41 the same day
    found = intents.answer("Wie spät ist es?", tokyo, "de-DE")
    assert found is not None and found.text == "Es ist 17 Uhr 41."


def test_the_model_is_told_the_date_and_time() -> None:
    assert clock.describe(NOW, "de-DE") == (
        "Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr."
    )
    assert clock.describe(NOW, "en-US") == (
        "Today is Friday, November 27, 2026, and the time is 9:41."
    )
