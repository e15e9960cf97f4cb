"""How many days until a holiday or a date ("Wie viele Tage sind es noch bis
Weihnachten?", "How many days until New Year's Eve?"), counted from the watch's date.

The offline model answered "Es sind noch 10 Tage bis Weihnachten." on November 28:
it has the date in its prompt but does not count. A watch is asked this often, and
the answer is arithmetic on the calendar, so it is answered here, exactly. The match
is on the whole question, as for the clock; what it does not know ("bis zu meinem
Geburtstag", "bis Pfingsten") falls through to the model.
"""

from __future__ import annotations

import re
from datetime import date

from shared.language import MONTHS

DE_MONTHS = {name.lower(): n for n, name in enumerate(MONTHS["de"], 1)} | {"jänner": 1}
EN_MONTHS = {name.lower(): n for n, name in enumerate(MONTHS["en"], 1)}

Fixed = tuple[int, int]
"""(month, day) of a holiday on the same date every year."""

EASTER = "easter"
"""Easter Sunday, which moves (`easter`)."""

DE_DAYS: dict[str, Fixed | str] = {
    "weihnachten": (12, 25),
    "heiligabend": (12, 24),
    "heilig abend": (12, 24),
    "heiligen abend": (12, 24),
    "silvester": (12, 31),
    "jahresende": (12, 31),
    "ende des jahres": (12, 31),
    "neujahr": (1, 1),
    "nikolaus": (12, 6),
    "valentinstag": (2, 14),
    "halloween": (10, 31),
    "tag der deutschen einheit": (10, 3),
    "ostern": EASTER,
    "ostersonntag": EASTER,
    "osten": EASTER,  # how Whisper heard "Ostern" in "Wie lange dauert es noch bis Ostern?"
}
EN_DAYS: dict[str, Fixed | str] = {
    "christmas": (12, 25),
    "christmas day": (12, 25),
    "christmas eve": (12, 24),
    "new year's eve": (12, 31),
    "new years eve": (12, 31),
    "the end of the year": (12, 31),
    "new year": (1, 1),
    "new year's": (1, 1),
    "new year's day": (1, 1),
    "new years day": (1, 1),
    "the new year": (1, 1),
    "halloween": (10, 31),
    "valentine's day": (2, 14),
    "valentines day": (2, 14),
    "easter": EASTER,
    "easter sunday": EASTER,
}
DE_NAMES: dict[Fixed | str, tuple[str, str]] = {
    (12, 25): ("Weihnachten", "Weihnachten"),
    (12, 24): ("Heiligabend", "Heiligabend"),
    (12, 31): ("Silvester", "Silvester"),
    (1, 1): ("Neujahr", "Neujahr"),
    (12, 6): ("Nikolaus", "Nikolaus"),
    (2, 14): ("Valentinstag", "Valentinstag"),
    (10, 31): ("Halloween", "Halloween"),
    (10, 3): ("der Tag der Deutschen Einheit", "zum Tag der Deutschen Einheit"),
    EASTER: ("Ostern", "Ostern"),
}
"""(what it is called as a subject, after "bis") for "Heute ist …" and "Bis … sind es"."""
EN_NAMES: dict[Fixed | str, str] = {
    (12, 25): "Christmas",
    (12, 24): "Christmas Eve",
    (12, 31): "New Year's Eve",
    (1, 1): "New Year's Day",
    (10, 31): "Halloween",
    (2, 14): "Valentine's Day",
    EASTER: "Easter",
}

DE_QUESTION = re.compile(
    r"(wie viele tage|wie lange)( (sind|ist|dauert|hat|haben)( es| wir)?)?( noch)?"
    r" (bis zum|bis zur|bis zu|bis|zum|zur) (?P<what>.+?)( noch)?"
)
EN_QUESTION = re.compile(
    r"(how many (more )?days|how long)( (are|is) (there|it|left))?( left| to go| remain)?"
    r" (until|till|til|to|before) (?P<what>.+?)( left| to go)?"
)
DE_DATE = re.compile(r"(dem |den |zum )?(?P<day>\d{1,2})\.? ?(?P<month>[a-zä]+|\d{1,2}\.?)")
EN_DATE = re.compile(
    r"(the )?(?P<day>\d{1,2})(st|nd|rd|th)? (of )?(?P<month>[a-z]+)|"
    r"(?P<month2>[a-z]+) (the )?(?P<day2>\d{1,2})(st|nd|rd|th)?"
)


def easter(year: int) -> date:
    """Easter Sunday of `year` (Gregorian; the anonymous algorithm, as in Meeus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _next(today: date, target: Fixed | str) -> date:
    """The target's next date on or after `today` (February 29 within the next leap
    year, so up to eight years on: 2100 is a common year)."""
    for year in range(today.year, today.year + 9):
        if target == EASTER:
            day = easter(year)
        else:
            assert isinstance(target, tuple)
            try:
                day = date(year, *target)
            except ValueError:  # February 29 in a common year
                continue
        if day >= today:
            return day
    raise ValueError(f"no date {target} in the nine years from {today}")


def _date(what: str, lang: str) -> Fixed | None:
    """(month, day) of a date said as "24. Dezember", "24.12.", "December 24th"."""
    if lang == "de":
        found = DE_DATE.fullmatch(what)
        if found is None:
            return None
        said = found["month"].rstrip(".")
        month = int(said) if said.isdigit() else DE_MONTHS.get(said)
        day = int(found["day"])
    else:
        found = EN_DATE.fullmatch(what)
        if found is None:
            return None
        said = found["month"] or found["month2"]
        month = EN_MONTHS.get(said)
        day = int(found["day"] or found["day2"])
    if month is None or not 1 <= month <= 12:
        return None
    try:
        date(2024, month, day)  # a leap year: February 29 is a date
    except ValueError:
        return None
    return month, day


def _normalise(question: str) -> str:
    text = question.lower().replace("\u2019", "'").replace("wieviele", "wie viele")
    text = re.sub(r"[^\w'. ]+", " ", text)  # the dots of "24.12." stay
    text = re.sub(r"\b(denn|eigentlich|bitte|please|still|exactly|genau)\b", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\.$", "", text).strip()


def answer(question: str, today: date) -> tuple[str, str] | None:
    """(spoken answer, "de" or "en") when the whole question asks how many days are
    left until a holiday or date this module knows, else None."""
    text = _normalise(question)
    for lang, pattern, days in (("de", DE_QUESTION, DE_DAYS), ("en", EN_QUESTION, EN_DAYS)):
        found = pattern.fullmatch(text)
        if found is None:
            continue
        what = found["what"].strip()
        target = days.get(what)
        if target is None:
            target = _date(what, lang)
        if target is None:
            return None
        when = _next(today, target)
        return _say(target, when, (when - today).days, lang), lang
    return None


def _say(target: Fixed | str, when: date, left: int, lang: str) -> str:
    month = MONTHS[lang][when.month - 1]
    if lang == "de":
        if target in DE_NAMES:
            subject, after_bis = DE_NAMES[target]
            on = f" am {when.day}. {month}"
        else:
            subject, after_bis = f"der {when.day}. {month}", f"zum {when.day}. {month}"
            on = ""
        if left <= 1:
            said = f"{'Heute' if left == 0 else 'Morgen'} ist {subject}."
        else:
            said = f"Bis {after_bis}{on} sind es noch {left} Tage."
            if target == (12, 25):
                said += f" Bis Heiligabend sind es {left - 1} Tage."
        return said
    day = f"{month} {when.day}"
    name = EN_NAMES.get(target, "")
    if left == 0:
        return f"Today is {name or day}."
    if left == 1:
        return f"{name} is tomorrow, on {day}." if name else f"Tomorrow is {day}."
    if name:
        return f"There are {left} days until {name}, on {day}."
    return f"There are {left} days until {day}."
