"""Languages and time zones as the watch names them, checked once and spelled one way.

A turn's language is a BCP-47 tag ("de-DE"); Whisper and the deployment settings speak
in bare ISO 639-1 codes ("de"). `to_tag` and `base` convert between the two.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, tzinfo

TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")
"""A BCP-47 language tag as far as we need it: language, optional region/script."""

MONTHS: dict[str, tuple[str, ...]] = {
    "de": (
        "Januar", "Februar", "März", "April", "Mai", "Juni",
        "Juli", "August", "September", "Oktober", "November", "Dezember",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip
WEEKDAYS: dict[str, tuple[str, ...]] = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
"""Month and weekday names of the two languages the clock and the voices write out."""

DEFAULT_REGION = {
    "de": "de-DE",
    "en": "en-US",
    "fr": "fr-FR",
    "it": "it-IT",
    "es": "es-ES",
    "nl": "nl-NL",
    "pl": "pl-PL",
    "pt": "pt-PT",
}


def valid_tag(value: object) -> str | None:
    """The tag normalised ("en-us" → "en-US"), or None when it is not one."""
    if not isinstance(value, str) or not TAG.fullmatch(value):
        return None
    head, *rest = value.split("-")
    parts = [head.lower()]
    for part in rest:
        parts.append(part.upper() if len(part) == 2 else part.title())
    return "-".join(parts)


def base(tag: str) -> str:
    """ "de-DE" → "de"."""
    return tag.split("-")[0].lower()


def to_tag(code: str, preferred: str = "") -> str:
    """A bare code as a full tag: `preferred` where it is that language, else a default."""
    code = base(code)
    if preferred and base(preferred) == code:
        return preferred
    return DEFAULT_REGION.get(code, code)


def languages(setting: str) -> list[str]:
    """ "de,en" (STT_LANGUAGES) → ["de", "en"]."""
    return [base(part.strip()) for part in setting.split(",") if part.strip()]


def zone(name: str) -> tzinfo | None:
    """The IANA zone, or None for a name that is not one (never a path on disk)."""
    if not name or len(name) > 64 or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", name):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def now_in(name: str, fallback: str) -> datetime:
    """The current wall-clock time in zone `name`, or in `fallback` when it is unknown."""
    return datetime.now(zone(name) or zone(fallback) or zoneinfo.ZoneInfo("UTC"))


GERMAN_HINTS = frozenset(
    [
        "ich",
        "du",
        "er",
        "sie",
        "es",
        "wir",
        "ihr",
        "ist",
        "sind",
        "bin",
        "bist",
        "hat",
        "haben",
        "wie",
        "was",
        "wer",
        "wo",
        "wann",
        "warum",
        "welche",
        "welcher",
        "welches",
        "der",
        "die",
        "das",
        "den",
        "dem",
        "des",
        "ein",
        "eine",
        "einen",
        "und",
        "oder",
        "nicht",
        "mir",
        "mich",
        "dir",
        "dich",
        "mein",
        "dein",
        "ja",
        "nein",
        "bitte",
        "danke",
        "heute",
        "morgen",
        "uhr",
        "spät",
        "viel",
        "kannst",
        "kann",
        "gibt",
        "sag",
        "erzähl",
    ]
)
ENGLISH_HINTS = frozenset(
    [
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "is",
        "are",
        "am",
        "was",
        "were",
        "has",
        "have",
        "how",
        "what",
        "who",
        "where",
        "when",
        "why",
        "which",
        "the",
        "a",
        "an",
        "and",
        "or",
        "not",
        "me",
        "my",
        "your",
        "yes",
        "no",
        "please",
        "thanks",
        "today",
        "tomorrow",
        "time",
        "can",
        "could",
        "tell",
        "does",
        "do",
        "did",
        "there",
        "this",
        "that",
    ]
)


def guess(text: str, allowed: list[str], default: str) -> str:
    """German or English for typed text, by counting function words; `default` when
    it is neither or too close to call. Only used for typed questions: spoken ones
    carry the language their recogniser heard."""
    words = re.findall(r"[a-zäöüß']+", text.lower())
    scores = {
        "de": sum(w in GERMAN_HINTS for w in words) + 2 * sum(c in "äöüß" for c in text.lower()),
        "en": sum(w in ENGLISH_HINTS for w in words),
    }
    candidates = {code: score for code, score in scores.items() if code in allowed}
    if not candidates:
        return default
    best = max(candidates, key=lambda code: candidates[code])
    others = [s for code, s in candidates.items() if code != best]
    if candidates[best] == 0 or (others and candidates[best] <= max(others)):
        return default
    return best
