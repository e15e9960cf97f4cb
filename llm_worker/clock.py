"""The date and time in words, for the model's instruction and for local answers.

Written by hand for German and English rather than through a locale library: two
languages, a dozen names each, and the phrasing must be the one a voice reads well.
"""

from __future__ import annotations

from datetime import datetime

from shared.language import MONTHS, WEEKDAYS


def lang(language: str) -> str:
    """German for German, English for everything else (the model reads both)."""
    return "de" if language.lower().startswith("de") else "en"


def weekday(now: datetime, language: str) -> str:
    return WEEKDAYS[lang(language)][now.weekday()]


def date(now: datetime, language: str, *, year: bool = True) -> str:
    """ "Freitag, der 27. November 2026" / "Friday, November 27, 2026"."""
    month = MONTHS[lang(language)][now.month - 1]
    if lang(language) == "de":
        text = f"{weekday(now, language)}, der {now.day}. {month}"
        return f"{text} {now.year}" if year else text
    text = f"{weekday(now, language)}, {month} {now.day}"
    return f"{text}, {now.year}" if year else text


def time_of_day(now: datetime, language: str) -> str:
    """ "9 Uhr 41" / "9:41 AM": how a person says it, and how every voice reads it."""
    if lang(language) == "de":
        return f"{now.hour} Uhr" if now.minute == 0 else f"{now.hour} Uhr {now.minute}"
    hour = now.hour % 12 or 12
    suffix = "AM" if now.hour < 12 else "PM"
    return f"{hour} {suffix}" if now.minute == 0 else f"{hour}:{now.minute:02d} {suffix}"


def describe(now: datetime, language: str) -> str:
    """The sentence the model gets: "Heute ist Freitag, der 27. November 2026, es ist
    9:41 Uhr." Digits with a colon here: the model reads them, no voice does."""
    if lang(language) == "de":
        return f"Heute ist {date(now, language)}, es ist {now.hour}:{now.minute:02d} Uhr."
    return f"Today is {date(now, language)}, and the time is {now.hour}:{now.minute:02d}."
