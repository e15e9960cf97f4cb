"""Questions that need no model: the time, the date, the weekday, answered from the
clock, the time in a named city or country (`llm_worker.places`), the days left until
a holiday or a date (`llm_worker.countdown`), and plain arithmetic
(`llm_worker.arithmetic`), answered exactly.

A watch is asked the time more than anything else, and a language model is the wrong
tool for it: it has no clock, and a small one gets it wrong even when told. So before
the model, the question is matched against the ways people ask for the time or the
date in German and English. The match is on the whole question (after wake words,
politeness and fillers are dropped), so "What time does the bakery close?" falls
through to the model instead of getting the local time. The time "in" a place the
table does not know goes to a model that can search, and on a backend without live
data gets an honest "I do not know that place" rather than the offline model's guess;
"in zwei Stunden" / "in half an hour" is a time from now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from llm_worker import actions, arithmetic, clock, countdown, live, places
from llm_worker.places import Place


class Intent(StrEnum):
    TIME = "time"
    TIME_IN = "time_in"
    TIME_LATER = "time_later"
    UNKNOWN_PLACE = "unknown_place"
    DATE = "date"
    DATE_IN = "date_in"
    CANNOT_DO = "cannot_do"
    NO_LIVE_DATA = "no_live_data"
    ARITHMETIC = "arithmetic"
    DAYS_UNTIL = "days_until"


@dataclass(frozen=True)
class LocalAnswer:
    intent: Intent
    text: str
    """The answer, phrased for speaking ("Es ist 9 Uhr 41.")."""
    language: str
    """The language of the question that matched: the answer is spoken in it."""


# --- German -----------------------------------------------------------------------

DE_FILLERS = re.compile(
    r"\b(jetzt|gerade|grad|denn|eigentlich|genau|bitte|aktuell|mal|eben|nochmal|"
    r"so ungefähr|ungefähr|momentan|im moment|schon|zurzeit|aktuelle|genaue|exakte)\b"
)
# A greeting and the name before these are gone already (`without_wake_words`).
DE_PREFIX = re.compile(r"^((sag(?! mir)|du|entschuldigung|entschuldige) )?")
DE_ASK = (
    r"(sag mir|sagst du mir|kannst du mir sagen|könntest du mir sagen|kannst du sagen|"
    r"weißt du|verrat mir|verrätst du mir|ich möchte wissen|ich will wissen|"
    r"ich wüsste gern|ich hätte gern|nenn mir|nenne mir)"
)
DE_DAY = r"(heute|morgen|übermorgen|gestern|vorgestern)"
DE_TIME = [
    r"wie spät (ist es|haben wir|ist's)",
    r"wie spät",
    r"wie viel uhr (ist es|haben wir|ist's)",
    r"wie viel uhr",
    r"(was|wie) ist die uhrzeit",
    r"welche uhrzeit (ist es|haben wir)",
    r"(die )?uhrzeit",
    r"was zeigt die uhr",
    r"(hast du|hättest du|kennst du) die uhrzeit",
    r"(kannst|könntest) du mir die uhrzeit (sagen|nennen|verraten)",
    rf"{DE_ASK} (wie spät es ist|wie viel uhr es ist|welche uhrzeit es ist|"
    r"welche uhrzeit wir haben|die uhrzeit)",
]
DE_DATE = [
    rf"welche[sn]? datum (haben|hatten|ist|war)( wir| es)?( {DE_DAY})?",
    rf"welche[sn]? datum (ist |haben wir |hatten wir |war )?({DE_DAY})",
    rf"welche[rn]? (tag|wochentag) (haben|hatten|ist|war)( wir| es)?( {DE_DAY})?",
    rf"welche[rn]? (tag|wochentag) (ist |haben wir |war )?({DE_DAY})",
    rf"was (ist|haben wir|war|hatten wir) ({DE_DAY} )?für ein(en)? (tag|wochentag|datum)"
    rf"( {DE_DAY})?",
    rf"was für ein(en)? (tag|wochentag|datum) (ist|haben wir|war|hatten wir)( {DE_DAY})?",
    rf"(den|der) wievielte[n]? (haben|hatten|ist|war)( wir| es)?( {DE_DAY})?",
    rf"(den|der) wievielte[n]? ({DE_DAY})",
    rf"(was|wie) ist das (heutige )?datum( {DE_DAY})?",
    rf"(das )?(heutige )?datum( von {DE_DAY})?",
    rf"{DE_ASK} (welche[rsn]? (tag|wochentag|datum)|den wievielten|der wievielte) "
    rf"(wir |es )?({DE_DAY} )?(ist|haben|war|hatten)( wir)?",
    rf"{DE_ASK} (das )?(heutige )?datum( von {DE_DAY})?",
]
DE_OFFSETS = {"heute": 0, "morgen": 1, "übermorgen": 2, "gestern": -1, "vorgestern": -2}

# --- English ----------------------------------------------------------------------

EN_FILLERS = re.compile(
    r"\b(please|right now|now|currently|exactly|again|just|actually|at the moment|"
    r"by any chance|roughly)\b"
)
EN_PREFIX = re.compile(r"^((excuse me|sorry) )?(uhrwerk )?")
EN_ASK = (
    r"(tell me|can you tell me|could you tell me|would you tell me|do you know|"
    r"i want to know|i would like to know|i'd like to know)"
)
EN_DAY = r"(today|tomorrow|yesterday|the day after tomorrow|the day before yesterday)"
EN_TIME = [
    r"what time is it",
    r"what is the (current )?time",
    r"what time do we have",
    r"what hour is it",
    r"(the |current )?time",
    r"(have you |you )?got the time",
    r"do you have the time",
    rf"{EN_ASK} (what time it is|the (current )?time)",
]
EN_DATE = [
    rf"what (date|day|day of the week) is (it|today|tomorrow)( {EN_DAY})?",
    r"what (date|day|day of the week) was (it )?(yesterday|the day before yesterday)",
    rf"what (date|day|day of the week) will it be ({EN_DAY})",
    rf"what is (the date|the day|today|today's date|tomorrow's date|yesterday's date)"
    rf"( {EN_DAY})?",
    rf"which day is (it|today|tomorrow)( {EN_DAY})?",
    r"(today's |the )?date",
    rf"{EN_ASK} (the date|today's date|what day it is|what day today is|what date it is|"
    rf"what the date is|what day of the week it is)( {EN_DAY})?",
]
EN_OFFSETS = {
    "the day after tomorrow": 2,
    "the day before yesterday": -2,
    "tomorrow": 1,
    "yesterday": -1,
    "today": 0,
}


def _compile(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


DE_TIME_RE, DE_DATE_RE = _compile(DE_TIME), _compile(DE_DATE)
EN_TIME_RE, EN_DATE_RE = _compile(EN_TIME), _compile(EN_DATE)
# The same questions about a place: "wie spät ist es in tokio", "weißt du, wie spät es
# in der schweiz ist", "what time is it in new york", "the time in tokyo".
DE_TIME_IN_RE = re.compile(
    rf"(?:(?:{DE_TIME_RE.pattern}) (?:in|im|auf) (?P<place>.+))|"
    rf"(?:{DE_ASK} (?:wie spät|wie viel uhr|welche uhrzeit) es (?:in|im|auf) (?P<asked>.+) ist)"
)
DE_DATE_IN_RE = re.compile(rf"(?:{DE_DATE_RE.pattern}) (?:in|im|auf) (?P<place>.+)")
EN_DATE_IN_RE = re.compile(rf"(?:{EN_DATE_RE.pattern}) in (?P<place>.+)")
EN_TIME_IN_RE = re.compile(rf"(?:{EN_TIME_RE.pattern}|what time will it be) in (?P<place>.+)")


WAKE = re.compile(
    r"^\W*(?:hey|hallo|hi|hello|ok|okay)\s+\w+\s*[,!:]\s*"
    r"|^\W*(?:(?:hey|hallo|hi|hello|ok|okay)\b[\s,!.]*)?"
    r"(?:(?:uhr ?w\w{0,2}rk|(?:you|your|our|or|ur) ?work)\b[\s,!.:]*)?",
    re.IGNORECASE,
)
"""A greeting and the assistant's name before the question ("Hey Uhrwerk, …"), the
name also as the recogniser may write it ("Uhrwirk", "Uhr Werk", in English "you
work"), or a greeting and any one word set off by a comma ("Hey Uhrwirg, …"). The one
place wake phrases are recognised: every local answer gets the question without it."""


def without_wake_words(question: str) -> str:
    """The question without a leading "Hey Uhrwerk, " (or "Hallo, ", "OK Uhrwerk: "),
    as it was otherwise (case and punctuation kept: "bis zum 24.12." needs its dots),
    so that every local answer below recognises it, not only the clock's patterns."""
    rest = WAKE.sub("", question, count=1)
    return rest if rest.strip() else question


def _words(text: str) -> str:
    text = text.lower().replace("\u2019", "'")  # typographic apostrophe
    text = re.sub(r"[^\w' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _german(text: str) -> str:
    text = re.sub(r"\bwieviel\b", "wie viel", text)
    text = re.sub(r"\bwie vielte", "wievielte", text)  # as Whisper writes it
    text = text.replace("spaet", "spät").replace("weisst", "weißt")
    text = DE_FILLERS.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return DE_PREFIX.sub("", text).strip()


def _english(text: str) -> str:
    text = text.replace("what's", "what is").replace("whats", "what is")
    text = text.replace("it's", "it is").replace("todays", "today's")
    text = EN_FILLERS.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return EN_PREFIX.sub("", text).strip()


def _offset(text: str, offsets: dict[str, int]) -> int:
    for word, days in offsets.items():  # longest phrases first where they overlap
        if re.search(rf"\b{word}\b", text):
            return days
    return 0


def match_place(question: str) -> tuple[str, str] | None:
    """(what follows "in", "de" or "en") when the question asks for the time "in"
    something: a place ("tokio"), a time from now ("zwei stunden") or neither."""
    words = _words(question)
    for text, pattern, lang in (
        (_german(words), DE_TIME_IN_RE, "de"),
        (_english(words), EN_TIME_IN_RE, "en"),
    ):
        found = pattern.fullmatch(text)
        if found is not None:
            return found.group("place") or found.group("asked") or "", lang
    return None


LATER = re.compile(
    r"(?P<n>\w+)(?P<half> halben)? (?P<unit>stunden?|minuten?)|"
    r"(?P<en_n>\w+) (?P<en_unit>hours?|minutes?)|(?P<en_half>half an hour)"
)
ONE = {"ein", "eine", "einer", "einem", "a", "an", "one"}


def _from_now(said: str, lang: str) -> timedelta | None:
    """How far ahead "zwei stunden", "einer halben stunde", "20 minutes", "half an
    hour" is; None for anything else."""
    found = LATER.fullmatch(said)
    if found is None:
        return None
    if found.group("en_half") or found.group("half"):
        return timedelta(minutes=30) if (found.group("n") or "a") in ONE else None
    word = found.group("n") or found.group("en_n")
    unit = found.group("unit") or found.group("en_unit")
    if word.isdigit():
        n: int | None = int(word)
    elif word in ONE:
        n = 1
    else:
        n = arithmetic.german_number(word) if lang == "de" else arithmetic.english_number([word])
    if n is None or n > 48 * 60:
        return None
    return timedelta(hours=n) if unit.startswith(("stunde", "hour")) else timedelta(minutes=n)


def match(question: str) -> tuple[Intent, str, int] | None:
    """(intent, "de" or "en", day offset) when the question asks for the time or date."""
    words = _words(question)
    if not words:
        return None
    german, english = _german(words), _english(words)
    if DE_TIME_RE.fullmatch(german):
        return Intent.TIME, "de", 0
    if DE_DATE_RE.fullmatch(german):
        return Intent.DATE, "de", _offset(german, DE_OFFSETS)
    if EN_TIME_RE.fullmatch(english):
        return Intent.TIME, "en", 0
    if EN_DATE_RE.fullmatch(english):
        return Intent.DATE, "en", _offset(english, EN_OFFSETS)
    return None


def answer(
    question: str, now: datetime, language: str, live_data: bool = True
) -> LocalAnswer | None:
    """The spoken answer from the clock (`now` in the watch's zone), or None for any
    question this module does not recognise. `language` is the turn's, used to keep
    its region ("en-GB") when the question is in that language. Without `live_data`
    (a backend that cannot search), weather and news questions get an honest answer
    (`llm_worker.live`) instead of going to a model that might invent one."""
    question = without_wake_words(question)
    asked = match_place(question)
    if asked is not None:
        said, lang = asked
        ahead = _from_now(said, lang)
        place = places.find(said)
        if ahead is not None:
            text = _time_later(said, now, now + ahead, lang)
            return LocalAnswer(Intent.TIME_LATER, text, _tag(language, lang))
        if place is not None:
            return LocalAnswer(Intent.TIME_IN, _time_in(place, now, lang), _tag(language, lang))
        if not live_data:  # the model would guess; Gemini can look the place up
            return LocalAnswer(Intent.UNKNOWN_PLACE, _unknown(said, lang), _tag(language, lang))
    dated = _match_date_in(question)
    if dated is not None:
        place, days, lang = dated
        return LocalAnswer(Intent.DATE_IN, _date_in(place, now, days, lang), _tag(language, lang))
    found = match(question)
    if found is None:
        words = _words(question)
        first = clock.lang(language)
        for lang in (first, "en" if first == "de" else "de"):
            cannot = actions.answer(words, lang)
            if cannot is not None:
                return LocalAnswer(Intent.CANNOT_DO, cannot, _tag(language, lang))
            honest = None if live_data else live.answer(words, lang)
            if honest is not None:
                return LocalAnswer(Intent.NO_LIVE_DATA, honest, _tag(language, lang))
    if found is None:
        left = countdown.answer(question, now.date())
        if left is not None:
            text, lang = left
            return LocalAnswer(Intent.DAYS_UNTIL, text, _tag(language, lang))
        sum_ = arithmetic.answer(question)
        if sum_ is None:
            return None
        text, lang = sum_
        return LocalAnswer(Intent.ARITHMETIC, text, _tag(language, lang))
    intent, lang, days = found
    tag = _tag(language, lang)
    if intent is Intent.TIME:
        said = clock.time_of_day(now, lang)
        text = f"Es ist {said}." if lang == "de" else f"It's {said}."
        return LocalAnswer(intent, text, tag)
    day = now + timedelta(days=days)
    return LocalAnswer(intent, _date_sentence(day, days, lang), tag)


def _time_in(place: Place, now: datetime, lang: str) -> str:
    """ "In Tokio ist es 4 Uhr 25, dort ist schon Samstag." / "In Tokyo it's 4:25 AM,
    already Saturday there."; for a place with several zones one clause per zone."""
    spoken = []
    for german, english, zone in place.zones:
        there = now.astimezone(ZoneInfo(zone))
        said = clock.time_of_day(there, lang)
        day = (there.date() - now.date()).days
        if len(place.zones) == 1:
            note = ""
            if day:
                weekday = clock.weekday(there, lang)
                if lang == "de":
                    note = f", dort ist {'schon' if day > 0 else 'noch'} {weekday}"
                else:
                    note = f", {'already' if day > 0 else 'still'} {weekday} there"
            where = place.de if lang == "de" else place.en
            verb = "ist es" if lang == "de" else "it's"
            return f"{where[0].upper()}{where[1:]} {verb} {said}{note}."
        note = f" {'am' if lang == 'de' else 'on'} {clock.weekday(there, lang)}" if day else ""
        spoken.append((german if lang == "de" else english, f"{said}{note}"))
    (first, first_time), *rest = spoken
    others = "".join(f", in {name} {said}" for name, said in rest)
    if lang == "de":
        where = place.de[0].upper() + place.de[1:]
        return f"{where} gibt es mehrere Zeitzonen: in {first} ist es {first_time}{others}."
    return f"There are several time zones {place.en}: in {first} it's {first_time}{others}."


def _match_date_in(question: str) -> tuple[Place, int, str] | None:
    """(place, day offset, "de" or "en") for "Welcher Tag ist heute in Tokio?"."""
    words = _words(question)
    for text, pattern, offsets, lang in (
        (_german(words), DE_DATE_IN_RE, DE_OFFSETS, "de"),
        (_english(words), EN_DATE_IN_RE, EN_OFFSETS, "en"),
    ):
        found = pattern.fullmatch(text)
        if found is not None:
            place = places.find(found.group("place"))
            head = text[: found.start("place")]
            return None if place is None else (place, _offset(head, offsets), lang)
    return None


def _date_in(place: Place, now: datetime, days: int, lang: str) -> str:
    """ "In Tokio ist heute Samstag, der 28. November 2026." (for a place with several
    zones, the first one's: they differ by hours, and the sentence names it)."""
    german, english, zone = place.zones[0]
    there = now.astimezone(ZoneInfo(zone)) + timedelta(days=days)
    where = place.de if lang == "de" else place.en
    if len(place.zones) > 1:
        where = f"in {german if lang == 'de' else english}"
    where = where[0].upper() + where[1:]
    if lang == "de":
        when = {0: "heute", 1: "morgen", 2: "übermorgen", -1: "gestern", -2: "vorgestern"}
        verb = "war" if days < 0 else "ist"
        return f"{where} {verb} {when.get(days, 'heute')} {clock.date(there, 'de')}."
    if days == 0:
        return f"{where}, it's {clock.date(there, 'en')}."
    when_en = {1: "tomorrow", 2: "the day after tomorrow", -1: "yesterday"}.get(days, "then")
    verb_en = "was" if days < 0 else "is"
    return f"{where}, {when_en} {verb_en} {clock.date(there, 'en')}."


def _time_later(said: str, now: datetime, then: datetime, lang: str) -> str:
    """ "In zwei Stunden ist es 23 Uhr 43." / "In two hours it will be 11:43 PM." """
    day = (
        f" {'am' if lang == 'de' else 'on'} {clock.weekday(then, lang)}"
        if (then.date() != now.date())
        else ""
    )
    at = clock.time_of_day(then, lang)
    if lang == "de":
        words = re.sub(r"\b(stunde|minute)", lambda m: m.group(1).capitalize(), said)
        return f"In {words} ist es {at}{day}."
    return f"In {said} it will be {at}{day}."


def _unknown(said: str, lang: str) -> str:
    """Honest about a place not in the table (the offline model guessed a time)."""
    name = " ".join(w.capitalize() for w in places.ARTICLES.sub("", said).split())
    if lang == "de":
        return f"Einen Ort namens {name} kenne ich nicht, die Uhrzeit dort weiß ich deshalb nicht."
    return f"I don't know a place called {name}, so I can't tell you the time there."


def _tag(language: str, lang: str) -> str:
    """The turn's language tag when the question is in it (keeps "en-GB"), else ours."""
    return language if language.lower().startswith(lang) else ("de-DE" if lang == "de" else "en-US")


def _date_sentence(day: datetime, days: int, lang: str) -> str:
    if lang == "de":
        subject = {0: "Heute ist", 1: "Morgen ist", 2: "Übermorgen ist", -1: "Gestern war"}
        return f"{subject.get(days, 'Vorgestern war')} {clock.date(day, 'de')}."
    subject_en = {
        0: "Today is",
        1: "Tomorrow is",
        2: "The day after tomorrow is",
        -1: "Yesterday was",
    }
    return f"{subject_en.get(days, 'The day before yesterday was')} {clock.date(day, 'en')}."
