"""Cutting a language model's streamed answer into sentences, German and English.

The text arrives in small deltas; `SentenceSplitter.feed` returns the sentences each
delta completes, `flush` the rest at the end of the stream. A sentence is emitted only
once the text that follows it makes the cut certain, so the result never depends on how
the text was chunked: feeding it one character at a time gives the same sentences as
`split` on the whole string.

A sentence ends at `.`, `!`, `?` or `…` (with any closing quotes or brackets after
them) followed by white space, and at every line break. It does not end at:

- abbreviations (`z. B.`, `z.B.`, `d. h.`, `Dr.`, `Prof.`, `Nr.`, `Hauptstr.`, `ca.`,
  `e.g.`, `i.e.`, `Mr.`, `St.`, `vs.`, `approx.`, …; `usw.`, `etc.`, `a.m.` only before
  a lowercase word; `No.` only before a digit), single letters with a period
  (initials: `J. R. R. Tolkien`) and dotted letter groups (`U.S.`);
- ordinals: a number of up to three digits (or a `27.11.` day and month) followed by a
  period is an ordinal when a lowercase word, a digit, a month name or a counted noun
  (`Mal`, `Platz`, `Jahrhundert`, …) follows, when an article or preposition
  (`am`, `der`, `zum`, `seinen`, …) comes before it, or when it starts the text
  or follows a bullet (`1. FC Köln`, `- 2. Punkt`); other numbers end sentences
  (`Die Antwort ist 42. Möchtest du …`);
- periods inside a word (`3.14`, `14.30`, `27.11.2026`, `example.com`, `v1.2.3`) and
  after which no white space follows (`Komm!“, rief er`);
- any `.`, `!`, `?` or `…` followed by a lowercase word (`Ich weiß nicht … vielleicht`).

The first sentence may be cut early so the voice starts sooner: once it is certain to
be longer than `first_clause_chars`, it is cut after its first clause boundary (`, `,
`; `, `: `, or a dash with spaces around it) that leaves at least 20 characters on the
left (a boundary between two digits, as in `1, 2 und 3`, does not count). Any sentence longer
than `max_chars` is cut at its last clause boundary within the limit, else at its last
space, else hard at the limit.
"""

from __future__ import annotations

import re

from shared.language import MONTHS

MONTHS_SHORT = ("Jan", "Feb", "Mär", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Okt", "Nov", "Dez")
"""German month abbreviations: no sentence ends after them, and a number before them
is a date's ordinal."""

__all__ = ["SentenceSplitter", "split"]

MIN_CLAUSE_CHARS = 20  # a clause cut leaves at least this much on its left

_ENDS = ".!?…"
_CLOSERS = "\"'”“\u2019\u2018»«)]}*"
_OPENERS = "\"'„“\u201a\u2018»«([{*"
_CLAUSE_MARKS = ",;:"
_DASHES = "\u2013\u2014-"  # en dash, em dash, hyphen

# Abbreviations (without their final period) after which a sentence never ends.
# Entries in lowercase also match with a capital first letter (at a sentence start).
_NEVER_END = frozenset(
    {
        # German
        "bzw",
        "ca",
        "Dr",
        "Prof",
        "Nr",
        "Str",
        "Hr",
        "Hrn",
        "Fr",
        "Frl",
        "Abs",
        "Art",
        "Kap",
        "Bd",
        "Hrsg",
        "Tel",
        "Fa",
        "gem",
        "ggf",
        "inkl",
        "exkl",
        "zzgl",
        "bzgl",
        "evtl",
        "vgl",
        "sog",
        "ggü",
        "Mio",
        "Mrd",
        "Tsd",
        "max",
        "min",
        "Min",
        "Std",
        "Sek",
        "Jh",
        "Jhd",
        "Abb",
        "Tab",
        "Anm",
        "geb",
        "gest",
        "verh",
        "Mo",
        "Di",
        "Mi",
        "Do",
        "Sa",
        *MONTHS_SHORT,
        "allg",
        "bspw",
        "einschl",
        "entspr",
        "insb",
        "bes",
        "urspr",
        "zus",
        "zw",
        "Ggs",
        "St",
        # English
        "Mr",
        "Mrs",
        "Ms",
        "Messrs",
        "Jr",
        "Sr",
        "vs",
        "approx",
        "appt",
        "dept",
        "est",
        "vol",
        "Vol",
        "fig",
        "Fig",
        "cf",
        "Gen",
        "Gov",
        "Lt",
        "Capt",
        "Col",
        "Sgt",
        "Rev",
        "Mt",
        "Ave",
        "Blvd",
        "Rd",
        "Oct",
        "Dec",
        "Mar",
    }
)
_NEVER_END_LOWER = frozenset(a for a in _NEVER_END if a.islower())

# Abbreviations that end a sentence when a capitalised word follows.
_END_CAPABLE = frozenset({"usw", "etc", "usf", "u.s.w", "Inc", "Ltd", "Corp", "Co", "a.m", "p.m"})
_END_CAPABLE_LOWER = frozenset(a for a in _END_CAPABLE if a.islower())

# Abbreviations that end a sentence unless a digit follows ("No. 5" but "No. I won't.").
_BEFORE_NUMBER = frozenset({"No", "no", "Nos", "nos"})

# Words before a number that make `<number>.` an ordinal (`am 3. Oktober`).
_ORDINAL_BEFORE = frozenset(
    {
        "am",
        "im",
        "zum",
        "zur",
        "vom",
        "beim",
        "ab",
        "seit",
        "der",
        "die",
        "das",
        "den",
        "dem",
        "des",
        "ein",
        "eine",
        "einem",
        "einen",
        "einer",
        "jeden",
        "jede",
        "jedes",
        "jedem",
        "jeder",
        "dieser",
        "diese",
        "dieses",
        "diesem",
        "diesen",
        "mein",
        "meine",
        "meinem",
        "meinen",
        "meiner",
        "dein",
        "deine",
        "deinem",
        "deinen",
        "deiner",
        "sein",
        "seine",
        "seinem",
        "seinen",
        "seiner",
        "ihr",
        "ihre",
        "ihrem",
        "ihren",
        "ihrer",
        "unser",
        "unsere",
        "unserem",
        "unseren",
        "unserer",
        "euer",
        "eure",
        "eurem",
        "euren",
        "eurer",
    }
)

# Words after `<number>.` that make it an ordinal or a date.
_ORDINAL_AFTER = frozenset(
    {
        *MONTHS["de"],
        *MONTHS["en"],
        "Jänner",
        *MONTHS_SHORT,
        "Oct",
        "Dec",
        "Mal",
        "Platz",
        "Rang",
        "Jahrhundert",
        "Jahrtausend",
        "Jahrestag",
        "Geburtstag",
        "Hochzeitstag",
        "Todestag",
        "Klasse",
        "Liga",
        "Stock",
        "Etage",
        "Kapitel",
        "Auflage",
        "Advent",
        "Weltkrieg",
        "Bundesliga",
        "Runde",
        "Spieltag",
        "Halbzeit",
        "Satz",
        "Akt",
        "Mannschaft",
        "Semester",
        "Staffel",
        "Folge",
        "Band",
        "FC",
        "FSV",
        "SC",
        "SV",
        "VfB",
        "VfL",
    }
)

_DOTTED = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")  # z.B, e.g, U.S, u.s.w
_ORDINAL = re.compile(r"\d{1,3}|\d{1,2}\.\d{1,2}")  # 3, 27, 27.11


class SentenceSplitter:
    """Incremental sentence splitter; see the module's documentation for the rules.

    `first_clause_chars=0` turns the early first cut off.
    """

    def __init__(self, first_clause_chars: int = 40, max_chars: int = 250) -> None:
        if first_clause_chars < 0:
            raise ValueError("first_clause_chars must not be negative")
        if max_chars <= MIN_CLAUSE_CHARS:
            raise ValueError(f"max_chars must be more than {MIN_CLAUSE_CHARS}")
        self._first_clause_chars = first_clause_chars
        self._max_chars = max_chars
        self._buffer = ""
        self._first = True

    def feed(self, delta: str) -> list[str]:
        """Add a piece of text; returns the sentences it completes (maybe none)."""
        self._buffer += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """End of the text: returns the sentences still held back. The splitter can
        then be used for a new text (with a new first sentence)."""
        out = self._drain(final=True)
        rest = self._buffer.strip()
        if rest:
            out.append(rest)
        self._buffer = ""
        self._first = True
        return out

    def _drain(self, final: bool) -> list[str]:
        out: list[str] = []
        while True:
            self._buffer = self._buffer.lstrip()
            if not self._buffer:
                return out
            first = self._first_clause_chars if self._first else 0
            cut = _cut(self._buffer, final, first, self._max_chars)
            if cut is None:
                return out
            end, rest = cut
            sentence = self._buffer[:end].strip()
            self._buffer = self._buffer[rest:]
            if sentence:
                out.append(sentence)
                self._first = False


def split(text: str, first_clause_chars: int = 40, max_chars: int = 250) -> list[str]:
    """All sentences of a complete text."""
    splitter = SentenceSplitter(first_clause_chars, max_chars)
    return splitter.feed(text) + splitter.flush()


def _cut(buf: str, final: bool, first_clause_chars: int, max_chars: int) -> tuple[int, int] | None:
    """Where the first sentence of `buf` (no leading white space) ends, as (end of the
    sentence, start of the rest), or None while that is not certain yet."""
    found = _scan(buf, final)
    reach = len(buf[: found[0]].rstrip()) - 1 if isinstance(found, tuple) else found
    # `reach`: the last index certainly in the first sentence; its length is > reach.
    if first_clause_chars and reach >= first_clause_chars:
        for left, right in _clauses(buf):
            if right > reach or left > max_chars:
                break
            if len(buf[:left].rstrip()) >= MIN_CLAUSE_CHARS:
                return left, left
    if reach >= max_chars:
        best = 0
        for left, _right in _clauses(buf):
            if left > max_chars:
                break
            if len(buf[:left].rstrip()) >= MIN_CLAUSE_CHARS:
                best = left
        if best:
            return best, best
        space = max((i for i in range(1, max_chars + 1) if buf[i].isspace()), default=0)
        return (space, space) if space else (max_chars, max_chars)
    return found if isinstance(found, tuple) else None


def _scan(buf: str, final: bool) -> tuple[int, int] | int:
    """The first certain sentence end in `buf` as (end, rest start); else the index of
    the last character certainly belonging to the first sentence."""
    n = len(buf)
    i = 0
    while i < n:
        char = buf[i]
        if char == "\n":
            return i, i + 1
        if char in _ENDS:
            j = i
            while j < n and buf[j] in _ENDS:
                j += 1
            k = j
            while k < n and buf[k] in _CLOSERS:
                k += 1
            verdict = _decide(buf, i, j, k, final)
            if verdict is None:
                return k - 1
            if verdict:
                return k, k
            i = k
            continue
        i += 1
    return len(buf.rstrip()) - 1


def _decide(buf: str, i: int, j: int, k: int, final: bool) -> bool | None:
    """Whether the punctuation buf[i:j] (closers up to k) ends a sentence; None when the
    text that would tell has not arrived yet."""
    n = len(buf)
    if k == n:
        return True if final else None
    if not buf[k].isspace():
        return False
    m = k
    while m < n and buf[m].isspace():
        if buf[m] == "\n":
            return True
        m += 1
    if m == n:
        return True if final else None
    following = buf[m]
    if j - i > 1 or buf[i] != ".":
        return not following.islower()
    return _period(buf, i, m, final)


def _period(buf: str, i: int, m: int, final: bool) -> bool | None:
    """Whether the single period at i ends a sentence; the next word starts at m."""
    start = i
    while start > 0 and not buf[start - 1].isspace():
        start -= 1
    core = buf[start:i].lstrip(_OPENERS).rstrip(_CLOSERS)
    following = buf[m]
    if core in _NEVER_END or core[:1].lower() + core[1:] in _NEVER_END_LOWER:
        return False
    if core.endswith("str"):
        return False  # Hauptstr. 5
    if core in _END_CAPABLE or core[:1].lower() + core[1:] in _END_CAPABLE_LOWER:
        return following.isupper()
    if core in _BEFORE_NUMBER:
        return not following.isdigit()
    if len(core) == 1 and core.isalpha():
        return False  # an initial, or part of "z. B.", "d. h."
    if _DOTTED.fullmatch(core):
        return False
    if following.islower():
        return False
    if not _ORDINAL.fullmatch(core):
        return True
    if following.isdigit():
        return False  # 3. 10. 2026
    if not following.isalpha():
        return True
    before = buf[:start].split()
    word = before[-1].lower() if before else ""
    if not any(c.isalnum() for c in word) or word.strip(_OPENERS + _CLOSERS) in _ORDINAL_BEFORE:
        return False  # "1. FC Köln" at the start or after a bullet, "am 3. Oktober"
    n = len(buf)
    end = m
    while end < n and buf[end].isalpha():
        end += 1
    if end == n and not final:
        return None
    return buf[m:end] not in _ORDINAL_AFTER


def _clauses(buf: str) -> list[tuple[int, int]]:
    """Clause boundaries in `buf` as (end of the left part, start of the right part),
    in order; the right part is never empty."""
    out: list[tuple[int, int]] = []
    n = len(buf)
    for p in range(1, n - 1):
        char = buf[p]
        if not buf[p + 1].isspace():
            continue
        if char in _CLAUSE_MARKS:
            pass
        elif not (char in _DASHES and buf[p - 1] == " "):
            continue
        right = p + 1
        while right < n and buf[right].isspace():
            right += 1
        if right == n:
            continue
        if buf[p - 1].isdigit() and buf[right].isdigit():
            continue  # 1, 2 und 3
        out.append((p + 1, right))
    return out
