"""The incremental sentence splitter: German and English edge cases, each checked on the
whole string and on random-sized deltas (the result must not depend on the chunking)."""

from __future__ import annotations

import random

import pytest

from shared.sentences import SentenceSplitter, split

SEEDS = range(6)


def chunked(text: str, seed: int, first_clause_chars: int = 40, max_chars: int = 250) -> list[str]:
    """The text fed as deltas of 1 to 8 characters (seed 0: one character at a time)."""
    rng = random.Random(seed)
    splitter = SentenceSplitter(first_clause_chars, max_chars)
    out: list[str] = []
    i = 0
    while i < len(text):
        size = 1 if seed == 0 else rng.randint(1, 8)
        out += splitter.feed(text[i : i + size])
        i += size
    return out + splitter.flush()


def check(
    text: str, expected: list[str], first_clause_chars: int = 40, max_chars: int = 250
) -> None:
    assert split(text, first_clause_chars, max_chars) == expected
    for seed in SEEDS:
        assert chunked(text, seed, first_clause_chars, max_chars) == expected, seed


# Sentences short enough (<= 40 characters) that the first-clause cut stays out of it.
GERMAN = [
    ("Hallo. Wie geht es dir?", ["Hallo.", "Wie geht es dir?"]),
    ("Super! Und dir?", ["Super!", "Und dir?"]),
    ("Wirklich?! Ja.", ["Wirklich?!", "Ja."]),
    ("Er sagte: „Komm!“ Dann…", ["Er sagte: „Komm!“", "Dann…"]),
    ("„Kommst du?“, fragte er. Ja.", ["„Kommst du?“, fragte er.", "Ja."]),
    ("Er nannte es „Uhrwerk“. Das passt.", ["Er nannte es „Uhrwerk“.", "Das passt."]),
    ("Sie rief »Halt!« Dann ging sie.", ["Sie rief »Halt!«", "Dann ging sie."]),
    ("Das stimmt (glaube ich). Gut.", ["Das stimmt (glaube ich).", "Gut."]),
    ("Ich nehme z. B. Äpfel. Gut.", ["Ich nehme z. B. Äpfel.", "Gut."]),
    ("Ich nehme z.B. Birnen. Gut.", ["Ich nehme z.B. Birnen.", "Gut."]),
    ("Das heißt d. h. Ruhe. Ja.", ["Das heißt d. h. Ruhe.", "Ja."]),
    ("Es kamen u. a. Kinder. Ja.", ["Es kamen u. a. Kinder.", "Ja."]),
    ("Es gibt Obst, Brot usw. zu essen.", ["Es gibt Obst, Brot usw. zu essen."]),
    ("Es gibt Obst, Brot usw. Dann Kaffee.", ["Es gibt Obst, Brot usw.", "Dann Kaffee."]),
    ("Rot bzw. Grün ist gut. Ja.", ["Rot bzw. Grün ist gut.", "Ja."]),
    ("Es dauert ca. 20 Minuten. Ok.", ["Es dauert ca. 20 Minuten.", "Ok."]),
    ("Ca. 20 Leute kamen. Ok.", ["Ca. 20 Leute kamen.", "Ok."]),
    ("Dr. Müller und Prof. Roth kommen.", ["Dr. Müller und Prof. Roth kommen."]),
    ("Sie wohnt in der Hauptstr. 5. Gut.", ["Sie wohnt in der Hauptstr. 5.", "Gut."]),
    ("Hausnummer Nr. 12 ist frei. Ja.", ["Hausnummer Nr. 12 ist frei.", "Ja."]),
    ("Wir treffen uns am 3. Oktober.", ["Wir treffen uns am 3. Oktober."]),
    ("Heute ist der 27. November. Ja.", ["Heute ist der 27. November.", "Ja."]),
    ("Bis 3. Oktober ist zu. Dann auf.", ["Bis 3. Oktober ist zu.", "Dann auf."]),
    ("Montag, 3. Okt. 2026 passt.", ["Montag, 3. Okt. 2026 passt."]),
    ("Der 1. FC Köln gewinnt. Toll.", ["Der 1. FC Köln gewinnt.", "Toll."]),
    ("1. FC Köln gewinnt. Toll.", ["1. FC Köln gewinnt.", "Toll."]),
    ("Er wurde im 20. Jahrhundert geboren.", ["Er wurde im 20. Jahrhundert geboren."]),
    ("Er kam zum 3. Mal. Schön.", ["Er kam zum 3. Mal.", "Schön."]),
    ("Es ist der 3. deutsche Titel.", ["Es ist der 3. deutsche Titel."]),
    ("Er kommt am 3. 10. 2026 an.", ["Er kommt am 3. 10. 2026 an."]),
    ("Das war am 27.11.2026. Dann nicht.", ["Das war am 27.11.2026.", "Dann nicht."]),
    ("Am 27.11. ist Markt. Komm.", ["Am 27.11. ist Markt.", "Komm."]),
    ("Die Antwort ist 42. Noch Fragen?", ["Die Antwort ist 42.", "Noch Fragen?"]),
    ("Es waren 2026. Dann weniger.", ["Es waren 2026.", "Dann weniger."]),
    ("Es kostet 2,5 Euro. Ok.", ["Es kostet 2,5 Euro.", "Ok."]),
    ("Pi ist etwa 3.14. Toll.", ["Pi ist etwa 3.14.", "Toll."]),
    ("Um 14.30 Uhr geht es los.", ["Um 14.30 Uhr geht es los."]),
    ("Es ist 9:41. Guten Morgen.", ["Es ist 9:41.", "Guten Morgen."]),
    ("Ich weiß nicht … vielleicht. Ja.", ["Ich weiß nicht … vielleicht.", "Ja."]),
    ("Ich weiß nicht... vielleicht.", ["Ich weiß nicht... vielleicht."]),
    ("Hm… Okay, gut.", ["Hm…", "Okay, gut."]),
    ("Schreib an max@example.de. Danke.", ["Schreib an max@example.de.", "Danke."]),
    ("Siehe www.dwd.de/wetter. Gut.", ["Siehe www.dwd.de/wetter.", "Gut."]),
    ("Version 3.12.1 ist da. Gut.", ["Version 3.12.1 ist da.", "Gut."]),
    ("Das ist etwas Neues.Hallo", ["Das ist etwas Neues.Hallo"]),
    ("Zwei Sätze.\n\nNeuer Absatz", ["Zwei Sätze.", "Neuer Absatz"]),
    ("Zutaten:\n- Mehl\n- Zucker\n", ["Zutaten:", "- Mehl", "- Zucker"]),
    ("1. Mehl\n2. Zucker", ["1. Mehl", "2. Zucker"]),
    ("Kein Punkt am Ende", ["Kein Punkt am Ende"]),
    ("  Leerzeichen.   Überall.  ", ["Leerzeichen.", "Überall."]),
    ("Ende mit z. B.", ["Ende mit z. B."]),
]

ENGLISH = [
    ("Hello. How are you?", ["Hello.", "How are you?"]),
    ('"Really?" he asked. Yes.', ['"Really?" he asked.', "Yes."]),
    ('She said "go." Then left.', ['She said "go."', "Then left."]),
    ("Use e.g. apples. Fine.", ["Use e.g. apples.", "Fine."]),
    ("Use i.e. Pears. Fine.", ["Use i.e. Pears.", "Fine."]),
    ("Apples, pears etc. are fine.", ["Apples, pears etc. are fine."]),
    ("Apples, pears etc. Then tea.", ["Apples, pears etc.", "Then tea."]),
    ("Mr. and Mrs. Smith came.", ["Mr. and Mrs. Smith came."]),
    ("Dr. Who lives on St. Mary St. too.", ["Dr. Who lives on St. Mary St. too."]),
    ("It is cats vs. Dogs. Ok.", ["It is cats vs. Dogs.", "Ok."]),
    ("It takes approx. 5 min.", ["It takes approx. 5 min."]),
    ("J. R. R. Tolkien wrote it.", ["J. R. R. Tolkien wrote it."]),
    ("It is in the U.S. Army now.", ["It is in the U.S. Army now."]),
    ("Meet at 5 p.m. today.", ["Meet at 5 p.m. today."]),
    ("Meet at 5 p.m. Then eat.", ["Meet at 5 p.m.", "Then eat."]),
    ("Acme Inc. Sells it. Ok.", ["Acme Inc.", "Sells it.", "Ok."]),
    ("Item No. 5 is sold. Ok.", ["Item No. 5 is sold.", "Ok."]),
    ("No. I will not. Sorry.", ["No.", "I will not.", "Sorry."]),
    ("The answer is 42. Anything else?", ["The answer is 42.", "Anything else?"]),
    ("Pi is 3.14159. Nice.", ["Pi is 3.14159.", "Nice."]),
    ("It is 9:41 a.m. now.", ["It is 9:41 a.m. now."]),
    ("Wait... what? Oh.", ["Wait... what?", "Oh."]),
    ("I think… maybe. Yes.", ["I think… maybe.", "Yes."]),
    ("Go to example.com. Then log in.", ["Go to example.com.", "Then log in."]),
    ("Python 3.12 is out! Try it.", ["Python 3.12 is out!", "Try it."]),
    ("It works (mostly). Good.", ["It works (mostly).", "Good."]),
    ("Stop!\nNext line", ["Stop!", "Next line"]),
    ("It was 1999. Then 2000.", ["It was 1999.", "Then 2000."]),
    ("Ten. 20 more. Done.", ["Ten.", "20 more.", "Done."]),
]


@pytest.mark.parametrize(("text", "expected"), GERMAN, ids=[t for t, _ in GERMAN])
def test_german(text: str, expected: list[str]) -> None:
    check(text, expected)


@pytest.mark.parametrize(("text", "expected"), ENGLISH, ids=[t for t, _ in ENGLISH])
def test_english(text: str, expected: list[str]) -> None:
    check(text, expected)


FIRST_CLAUSE = [
    # cut at the first clause boundary leaving >= 20 characters on the left
    (
        "Das Wetter in Berlin ist morgen sonnig, mit Temperaturen bis 25 Grad. Danach regnet"
        " es, aber nur kurz, sagt der Wetterdienst heute.",
        [
            "Das Wetter in Berlin ist morgen sonnig,",
            "mit Temperaturen bis 25 Grad.",
            "Danach regnet es, aber nur kurz, sagt der Wetterdienst heute.",
        ],
    ),
    # "Ja," leaves too little on the left; the next comma is used
    (
        "Ja, das Wetter in Berlin wird morgen schön, mit viel Sonne.",
        ["Ja, das Wetter in Berlin wird morgen schön,", "mit viel Sonne."],
    ),
    # semicolon, colon and dashes are clause boundaries too
    (
        "Morgen wird es in ganz Bayern sonnig; am Abend kommen Wolken.",
        ["Morgen wird es in ganz Bayern sonnig;", "am Abend kommen Wolken."],
    ),
    (
        "Hier ist die Antwort auf deine Frage: Es wird morgen regnen.",
        ["Hier ist die Antwort auf deine Frage:", "Es wird morgen regnen."],
    ),
    (
        "Das Wetter wird morgen wirklich schön \u2013 mit viel Sonne am Nachmittag.",
        ["Das Wetter wird morgen wirklich schön \u2013", "mit viel Sonne am Nachmittag."],
    ),
    (
        "The weather will be lovely tomorrow - sunny all afternoon long.",
        ["The weather will be lovely tomorrow -", "sunny all afternoon long."],
    ),
    # a sentence of at most 40 characters is not cut
    (
        "Morgen wird es sonnig, und warm. Gut.",
        ["Morgen wird es sonnig, und warm.", "Gut."],
    ),
    # never inside a number, nor between two numbers
    (
        "Die Temperatur liegt bei 2,5 Grad und steigt auf 1, 2 oder 3 Grad an.",
        ["Die Temperatur liegt bei 2,5 Grad und steigt auf 1, 2 oder 3 Grad an."],
    ),
    # only the first sentence is cut early
    (
        "Gut. Das Wetter in Berlin ist morgen sonnig, mit Temperaturen bis 25 Grad.",
        ["Gut.", "Das Wetter in Berlin ist morgen sonnig, mit Temperaturen bis 25 Grad."],
    ),
    # the first sentence without a final period at the end of the stream
    (
        "Das Wetter in Berlin ist morgen sonnig, mit Temperaturen bis 25 Grad",
        ["Das Wetter in Berlin ist morgen sonnig,", "mit Temperaturen bis 25 Grad"],
    ),
    # no clause boundary at all: the sentence stays whole
    (
        "Das Wetter in Berlin ist morgen den ganzen Tag über sonnig und warm.",
        ["Das Wetter in Berlin ist morgen den ganzen Tag über sonnig und warm."],
    ),
    # English
    (
        "Tomorrow in London it will be mostly sunny, with highs around 20 degrees.",
        ["Tomorrow in London it will be mostly sunny,", "with highs around 20 degrees."],
    ),
]


@pytest.mark.parametrize(("text", "expected"), FIRST_CLAUSE)
def test_first_clause_cut(text: str, expected: list[str]) -> None:
    check(text, expected)


def test_first_clause_cut_can_be_turned_off() -> None:
    text = "Das Wetter in Berlin ist morgen sonnig, mit Temperaturen bis 25 Grad."
    check(text, [text], first_clause_chars=0)


def test_first_clause_is_emitted_before_the_sentence_ends() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Das Wetter in Berlin ist morgen sonnig, mit Temperaturen") == [
        "Das Wetter in Berlin ist morgen sonnig,"
    ]
    assert splitter.feed(" bis 25 Grad.") == []
    assert splitter.flush() == ["mit Temperaturen bis 25 Grad."]


def test_flush_starts_a_new_text() -> None:
    splitter = SentenceSplitter()
    text = "Das Wetter in Berlin ist morgen sonnig, mit Temperaturen bis 25 Grad."
    first = splitter.feed(text) + splitter.flush()
    assert first == splitter.feed(text) + splitter.flush()
    assert len(first) == 2


LONG_CLAUSES = (
    "Wir haben heute sehr viel vor, denn wir wollen zuerst in den Park gehen, danach "
    "gemeinsam zu Mittag essen, anschließend ins Museum für moderne Kunst, dann noch "
    "einen Kaffee trinken und am Abend ins Theater am Marktplatz gehen."
)


def test_max_chars_cuts_at_the_last_clause_boundary() -> None:
    out = split(LONG_CLAUSES, first_clause_chars=0, max_chars=120)
    assert out == [
        "Wir haben heute sehr viel vor, denn wir wollen zuerst in den Park gehen, danach "
        "gemeinsam zu Mittag essen,",
        "anschließend ins Museum für moderne Kunst, dann noch einen Kaffee trinken und am "
        "Abend ins Theater am Marktplatz gehen.",
    ]
    check(LONG_CLAUSES, out, first_clause_chars=0, max_chars=120)


def test_max_chars_with_first_clause() -> None:
    out = split(LONG_CLAUSES, max_chars=80)
    assert out[0] == "Wir haben heute sehr viel vor,"
    assert all(len(s) <= 80 for s in out)
    assert " ".join(out) == LONG_CLAUSES
    check(LONG_CLAUSES, out, max_chars=80)


def test_max_chars_falls_back_to_a_space() -> None:
    text = " ".join(["Wort"] * 100) + "."
    out = split(text, max_chars=50)
    assert all(0 < len(s) <= 50 for s in out)
    assert " ".join(out) == text
    assert out[0] == " ".join(["Wort"] * 10)
    check(text, out, max_chars=50)


def test_max_chars_hard_cut_without_spaces() -> None:
    text = "x" * 130
    out = split(text, max_chars=50)
    assert out == ["x" * 50, "x" * 50, "x" * 30]
    check(text, out, max_chars=50)


def test_default_max_chars_on_a_long_run_on_sentence() -> None:
    text = ", ".join(f"Punkt Nummer {n} der Liste" for n in range(40)) + "."
    out = split(text)
    assert all(len(s) <= 250 for s in out)
    assert " ".join(out) == text
    check(text, out)


def test_sentences_wait_for_certainty() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Hallo Welt.") == []
    assert splitter.feed(" ") == []  # "am 3. Oktober"? "usw. zu"? not known yet
    assert splitter.feed("W") == ["Hallo Welt."]
    assert splitter.feed("ie geht es am 3.") == []
    assert splitter.feed(" O") == []  # "Oktober" or "Ostern"?
    assert splitter.feed("ktober? ") == []
    assert splitter.feed("Gut!\n") == ["Wie geht es am 3. Oktober?", "Gut!"]
    assert splitter.flush() == []


def test_empty_and_blank_input() -> None:
    assert split("") == []
    assert split("  \n\n  ") == []
    splitter = SentenceSplitter()
    assert splitter.feed("") == []
    assert splitter.flush() == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SentenceSplitter(first_clause_chars=-1)
    with pytest.raises(ValueError):
        SentenceSplitter(max_chars=10)


ANSWER = (
    "Gerne! Morgen, am 3. Oktober, wird es in Köln ca. 18 Grad warm, d. h. angenehm. "
    "Dr. Meier vom DWD sagt: „Es bleibt trocken.“ Um 14.30 Uhr kommen z.B. Wolken… "
    "aber kein Regen. Danach:\n- 1. Punkt: Sonne\n- 2. Punkt: Wind (ca. 2,5 m/s)\n\n"
    "The U.S. forecast, e.g. for New York, says 25 °C. Mr. Smith agrees! Anything else? "
    "Tolkien, J. R. R., wrote in 1937. Pi is 3.14. Visit www.dwd.de. Fertig"
)


@pytest.mark.parametrize("seed", range(20))
def test_chunking_never_changes_the_result(seed: int) -> None:
    whole = split(ANSWER)
    assert chunked(ANSWER, seed) == whole
    assert chunked(ANSWER, seed, first_clause_chars=0, max_chars=60) == split(
        ANSWER, first_clause_chars=0, max_chars=60
    )


def test_long_answer_sentences() -> None:
    assert split(ANSWER) == [
        "Gerne!",
        "Morgen, am 3. Oktober, wird es in Köln ca. 18 Grad warm, d. h. angenehm.",
        "Dr. Meier vom DWD sagt: „Es bleibt trocken.“",
        "Um 14.30 Uhr kommen z.B. Wolken… aber kein Regen.",
        "Danach:",
        "- 1. Punkt: Sonne",
        "- 2. Punkt: Wind (ca. 2,5 m/s)",
        "The U.S. forecast, e.g. for New York, says 25 °C.",
        "Mr. Smith agrees!",
        "Anything else?",
        "Tolkien, J. R. R., wrote in 1937.",
        "Pi is 3.14.",
        "Visit www.dwd.de.",
        "Fertig",
    ]


@pytest.mark.parametrize("seed", range(8))
def test_random_texts_chunking_invariance(seed: int) -> None:
    """Random mixtures of the tricky pieces: chunked output equals whole-string output,
    every sentence is stripped and non-empty, and no text is lost."""
    rng = random.Random(1000 + seed)
    pieces = [
        "z. B.", "z.B.", "usw.", "Dr.", "am 3.", "Oktober", "27.11.2026", "2,5", "3.14",
        "14.30 Uhr", "9:41", "…", "...", "!", "?", ".", ",", ";", ":", "\u2013", "-", "\n",
        "\n\n", "„Komm!“", "(ja)", "e.g.", "Mr.", "J. R. R.", "example.com", "Das", "das",
        "Wetter", "wird", "schön", "The", "weather", "is", "nice", "42", "1.", "FC",
    ]  # fmt: skip
    text = "".join(rng.choice(pieces) + rng.choice([" ", " ", "", "  "]) for _ in range(300))
    for first, limit in ((40, 250), (0, 60), (25, 30)):
        whole = split(text, first, limit)
        assert all(s and s == s.strip() and len(s) <= limit for s in whole)
        assert "".join(whole).replace(" ", "") == "".join(text.split())
        for chunk_seed in range(3):
            assert chunked(text, chunk_seed, first, limit) == whole
