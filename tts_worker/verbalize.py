"""Numbers, dates, times, units and abbreviations written out as words, for the offline
voices (pico2wave for German, Piper for English), which misread them.

`verbalize(text, language)` rewrites German (`de-…`) and English (`en-…`) text and
returns any other language unchanged. It runs after `shared.speech_text.for_speech`,
on plain sentences. Cardinals, ordinals and years come from num2words; the rest are
rules applied in this order:

1. Abbreviations: de `z. B.`, `d. h.`, `u. a.`, `usw.`, `bzw.`, `ca.`, `Dr.`, `Nr.`, …;
   en `e.g.`, `i.e.`, `etc.`, `approx.`, `Dr.`, `Mr.`, `Mrs.` (also `Mr Brown`),
   `No. 5`, …. One that can end a sentence (`usw.`, `etc.`) keeps its period where a
   sentence ends.
2. Dates: `27.11.`, `27.11.2026`, `2026-11-27`, `3. Oktober 2026`; en `November 27`,
   `November 27th, 2026`, `27 November`, `11/27/2026` (month first for en-US, day
   first for other English regions, unless the first number cannot be a month).
   Ranges (`5-10`, `10:00-12:00`, `3.-5. Oktober`, also with an en dash) become
   `bis`/`to` first; `10:00-12:00 Uhr` reads `zehn bis zwölf Uhr`.
3. German ordinals after an article or preposition (`der 3. Platz`, `zum 2. Mal`) or
   before a lowercase word (`als 1. ins Ziel` → `als erster`); English `1st`, `27th`.
4. Times: `14:30`, `14:30 Uhr`, `14.30 Uhr`, `9 Uhr`, `9:05`; en `9:05` (`nine oh
   five`), `9:00` (`nine o'clock`), `2:30 pm`; en `14:30` is said `two thirty p.m.`;
   scores such as `2:1` (`zwei zu eins`, `two to one`).
5. Money: `2,50 €` (`zwei Euro fünfzig`), `€ 5`, `$5.50` (`five dollars and fifty
   cents`), `$1.5 million`.
6. Numbers with units and signs: `°C`, `°F`, `°`, `km/h`, `km`, `m`, `cm`, `mm`, `kg`,
   `g`, `l`, `ml`, `%`, `m²`, `m³`, `h`, `min`, `Mio.`, …, singular for exactly 1
   (`ein Kilometer`, `eine Stunde`, `one degree`); de `1,80 m` is `ein Meter achtzig`;
   `-5` (also with a minus sign or an en dash), `+3`; arithmetic (`3 + 4`, `3 * 4`,
   `10 - 5`, `= 12`).
7. Every other number: decimal comma (de `2,5` → `zwei Komma fünf`) or point (en
   `2.5` → `two point five`), thousands separators (de `1.000`, en `1,000`), digits
   after the decimal separator one by one, a leading zero or more than 15 digits digit
   by digit (`007`), four-digit numbers from 1100 to 1999 as years (`1999` →
   `neunzehnhundertneunundneunzig`, `nineteen ninety-nine`).
8. Leftover symbols: de `%`, `€`, `°`, ` & `, `§`, `~`; en `%`, `°`, ` & `, `~`.

Limits:
- German ordinals are inflected from the word before them: `der/die/das` (and
  `jede/jedes`) give `-e` (`der dritte`), `am/im/vom/zum/zur/beim/dem/den/des`, the
  prepositions `ab/bis/seit/vor/nach/von/an/für` and `jeden/jedem` give `-en`
  (`am dritten`, also `bis dritten`, where speech says `bis zum dritten`), anything
  else `-er` (`Montag, dritter Oktober`; `Sie wurde 1. beim Lauf` → `erster`). `und`/
  `bis` between two dates inherit the case of the first (`am 3. und 4. Oktober`).
  Gender is not known: `ein 2. Versuch` is left alone, and `die 2. Klassen` (plural)
  reads `die zweite`. Cardinals before nouns are not declined (`auf 1 km` → `auf ein
  Kilometer`, not `einem`).
- A German ordinal without article, month or lowercase word after it (`Er wurde 3.`)
  stays a cardinal; a German `1` before a noun whose gender is not in a short list
  (`1 Katze`) stays a digit.
- Ambiguous forms are read one way: de `3.5` as a decimal and `3.12.` as a date (also
  in `Python 3.12.`), en `2,5` as two numbers, `14h` as hours, `5 m` as metres,
  `555-1234` as a range, numbers with a leading zero digit by digit.
- Only two-decimal money amounts are said as units and cents; other decimals keep
  `Komma`/`point` (`2,5 €` → `zwei Komma fünf Euro`).
- A date's final dot (`Heute ist der 27.11.`) is kept as the sentence's period only
  at the end of the text or a line; `Am 27.11. Geburtstag` loses nothing, `Es ist der
  27.11. Dann …` loses the pause.
- Not handled: fractions (`1/2`), Roman numerals, phone numbers, `14:30:15` in
  English, month abbreviations (`Nov.`, `Okt.`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from num2words import num2words

from shared.language import MONTHS

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def verbalize(text: str, language: str) -> str:
    """`text` with numbers, dates, times, units and abbreviations as words in
    `language` (BCP-47); languages other than German and English are left alone."""
    primary, _, region = language.replace("_", "-").partition("-")
    primary = primary.lower()
    if primary == "de":
        rules = GERMAN
    elif primary == "en":
        rules = ENGLISH_US if region.upper() in ("", "US") else ENGLISH_DAY_FIRST
    else:
        return text
    for pattern, replace in rules:
        text = pattern.sub(replace, text)
    return text


# ---------------------------------------------------------------------------- numbers


@dataclass(frozen=True)
class Lang:
    code: str  # num2words language
    group: str  # thousands separator
    decimal: str  # decimal separator
    point: str  # the word for the decimal separator
    digits: tuple[str, ...]
    signs: dict[str, str]


DE = Lang(
    "de",
    ".",
    ",",
    "Komma",
    ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
    {"-": "minus", "\u2212": "minus", "\u2013": "minus", "+": "plus", "±": "plus minus"},
)
EN = Lang(
    "en",
    ",",
    ".",
    "point",
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    {"-": "minus", "\u2212": "minus", "\u2013": "minus", "+": "plus", "±": "plus or minus"},
)


def cardinal(n: int, lang: Lang) -> str:
    return str(num2words(n, lang=lang.code)).replace(",", "")


def ordinal(n: int, lang: Lang) -> str:
    return str(num2words(n, lang=lang.code, to="ordinal")).replace(",", "")


def year(n: int, lang: Lang) -> str:
    if lang is DE and not 1100 <= n <= 1999:
        return cardinal(n, lang)  # num2words says "einshundert" for 100
    return str(num2words(n, lang=lang.code, to="year")).replace(",", "")


def digit_by_digit(digits: str, lang: Lang) -> str:
    return " ".join(lang.digits[int(d)] for d in digits)


def number(whole: str, fraction: str | None, lang: Lang, *, one: str | None = None) -> str:
    """`whole` (with or without thousands separators) and the digits after the decimal
    separator in words; `one` replaces the word for exactly 1 (German `ein`)."""
    whole = whole.replace(lang.group, "")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > 15:
        words = digit_by_digit(whole, lang)
    elif one is not None and whole == "1" and not fraction:
        words = one
    else:
        words = cardinal(int(whole), lang)
    if fraction:
        words += f" {lang.point} {digit_by_digit(fraction, lang)}"
    return words


def sign_words(sign: str | None, lang: Lang) -> str:
    return f"{lang.signs[sign]} " if sign else ""


def number_pattern(lang: Lang) -> str:
    """Named groups sign, whole, fraction. German also takes a decimal point (`3.5`)."""
    group, decimal = re.escape(lang.group), re.escape(lang.decimal)
    separators = "[,.]" if lang is DE else decimal
    before = r"(?<![\w.,])" if lang is DE else r"(?<![\w.])"
    return (
        rf"(?:(?<![\w.,\d])(?P<sign>[-\u2212\u2013+±]))?{before}"
        rf"(?P<whole>\d{{1,3}}(?:{group}\d{{3}})+(?![\d])|\d+)"
        rf"(?:{separators}(?P<fraction>\d+))?"
    )


# "5-10", "10:00-12:00", "3.-5. Oktober", also with an en dash (the ordinal's dot stays)
RANGE = re.compile(r"(?<=\d)(\.?)(?:\s?[\u2013—]\s?|-)(?=[-\u2212+]?\d)")


def _range(word: str) -> Callable[[re.Match[str]], str]:
    return lambda m: f"{m.group(1)} {word} "


def _words_before(string: str, end: int, count: int) -> list[str]:
    return re.findall(r"\S+", string[max(0, end - 40 * count) : end])[-count:]


# ----------------------------------------------------------------------------- German

MONTHS_DE = MONTHS["de"]
MONTH_DE = "|".join(MONTHS_DE) + "|Jänner"

NOMINATIVE = {"der", "die", "das", "jede", "jedes"}
DATIVE = {
    "am",
    "im",
    "vom",
    "zum",
    "zur",
    "beim",
    "dem",
    "den",
    "des",
    "ab",
    "bis",
    "seit",
    "vor",
    "nach",
    "von",
    "an",
    "für",
    "jeden",
    "jedem",
}
JOINERS = {"und", "oder", "bis", "sowie", "\u2013", "-"}
ORDINAL_TOKEN = re.compile(r"\(?\d{1,2}\.(?:\d{1,2}\.(?:\d{4})?)?,?")


def german_ordinal(n: int, match: re.Match[str]) -> str:
    """The ordinal of `n`, inflected for the word before `match`."""
    words = _words_before(match.string, match.start(), 8)
    i = len(words) - 1
    # "am 3. und 4. Oktober", "vom 3. bis 5. Oktober": the case of the first date.
    while i >= 1 and words[i].lower() in JOINERS and ORDINAL_TOKEN.fullmatch(words[i - 1]):
        i -= 2
    before = words[i].lower().strip(",;:()\"„“'") if i >= 0 else ""
    base = ordinal(n, DE)  # "dritte"
    if before in NOMINATIVE:
        return base
    if before in DATIVE:
        return base + "n"
    return base + "r"


def german_date(day: int, month: int, year_: str | None, match: re.Match[str]) -> str:
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match.group(0)
    words = f"{german_ordinal(day, match)} {MONTHS_DE[month - 1]}"
    if year_:
        words += f" {year(int(year_), DE)}"
    return words


def _date_end(match: re.Match[str]) -> str:
    """The period of a date that ends a sentence at the end of the text or line."""
    rest = match.string[match.end() :]
    return "." if match.group(0).endswith(".") and (not rest or rest[0] == "\n") else ""


def _de_numeric_date(m: re.Match[str]) -> str:
    words = german_date(int(m.group("d")), int(m.group("m")), m.group("y"), m)
    return words if words == m.group(0) else words + _date_end(m)


def _de_iso_date(m: re.Match[str]) -> str:
    return german_date(int(m.group("d")), int(m.group("m")), m.group("y"), m)


def _de_named_date(m: re.Match[str]) -> str:
    month = m.group("m")
    index = 1 if month == "Jänner" else MONTHS_DE.index(month) + 1
    words = german_date(int(m.group("d")), index, m.group("y"), m)
    return words.replace("Januar", "Jänner") if month == "Jänner" else words


def _de_article_ordinal(m: re.Match[str]) -> str:
    article = m.group("article")
    base = ordinal(int(m.group("n")), DE)
    ending = "" if article.lower() in NOMINATIVE else "n"
    return f"{article} {base}{ending}"


def _de_hour(hour: str) -> str:
    return "ein" if int(hour) == 1 else cardinal(int(hour), DE)


def _de_time(m: re.Match[str]) -> str:
    words = f"{_de_hour(m.group('h'))} Uhr"
    if int(m.group("min")):
        words += f" {cardinal(int(m.group('min')), DE)}"
    if m.group("s") and int(m.group("s")):
        words += f" und {cardinal(int(m.group('s')), DE)} Sekunden"
    return words


def _de_hour_only(m: re.Match[str]) -> str:
    return f"{_de_hour(m.group('h'))} Uhr"


CURRENCIES_DE = {
    "€": ("Euro", "Cent"),
    "EUR": ("Euro", "Cent"),
    "Euro": ("Euro", "Cent"),
    "$": ("Dollar", "Cent"),
    "USD": ("Dollar", "Cent"),
    "Dollar": ("Dollar", "Cent"),
    "£": ("Pfund", "Pence"),
    "GBP": ("Pfund", "Pence"),
    "Pfund": ("Pfund", "Pence"),
    "CHF": ("Franken", "Rappen"),
    "Franken": ("Franken", "Rappen"),
}


def _de_money(m: re.Match[str]) -> str:
    name, small = CURRENCIES_DE[m.group("cur") or m.group("pre")]
    sign = sign_words(m.group("sign"), DE)
    cents = m.group("cents")
    whole = m.group("whole").replace(".", "")
    if cents and cents.isdigit() and int(cents):
        if int(whole) == 0:
            return f"{sign}{cardinal(int(cents), DE)} {small}"
        return f"{sign}{number(whole, None, DE, one='ein')} {name} {cardinal(int(cents), DE)}"
    return f"{sign}{number(whole, None, DE, one='ein')} {name}"


# symbol: (plural, singular, feminine)
UNITS_DE: dict[str, tuple[str, str, bool]] = {
    "km/h": ("Kilometer pro Stunde", "Kilometer pro Stunde", False),
    "m/s": ("Meter pro Sekunde", "Meter pro Sekunde", False),
    "km²": ("Quadratkilometer", "Quadratkilometer", False),
    "m²": ("Quadratmeter", "Quadratmeter", False),
    "cm²": ("Quadratzentimeter", "Quadratzentimeter", False),
    "qm": ("Quadratmeter", "Quadratmeter", False),
    "m³": ("Kubikmeter", "Kubikmeter", False),
    "°C": ("Grad Celsius", "Grad Celsius", False),
    "°F": ("Grad Fahrenheit", "Grad Fahrenheit", False),
    "°": ("Grad", "Grad", False),
    "%": ("Prozent", "Prozent", False),
    "‰": ("Promille", "Promille", False),
    "km": ("Kilometer", "Kilometer", False),
    "cm": ("Zentimeter", "Zentimeter", False),
    "mm": ("Millimeter", "Millimeter", False),
    "m": ("Meter", "Meter", False),
    "kg": ("Kilogramm", "Kilogramm", False),
    "mg": ("Milligramm", "Milligramm", False),
    "g": ("Gramm", "Gramm", False),
    "ml": ("Milliliter", "Milliliter", False),
    "l": ("Liter", "Liter", False),
    "L": ("Liter", "Liter", False),
    "kWh": ("Kilowattstunden", "Kilowattstunde", True),
    "kW": ("Kilowatt", "Kilowatt", False),
    "h": ("Stunden", "Stunde", True),
    "Std.": ("Stunden", "Stunde", True),
    "min": ("Minuten", "Minute", True),
    "Min.": ("Minuten", "Minute", True),
    "Mio.": ("Millionen", "Million", True),
    "Mio": ("Millionen", "Million", True),
    "Mrd.": ("Milliarden", "Milliarde", True),
    "Mrd": ("Milliarden", "Milliarde", True),
    "Tsd.": ("Tausend", "Tausend", False),
}


def _unit_pattern(units: dict[str, tuple[str, str, bool]]) -> str:
    symbols = sorted(units, key=len, reverse=True)
    alternatives = "|".join(re.escape(s).replace("°", r"°\s?") for s in symbols)
    return rf"(?P<unit>{alternatives})(?![\w²³])"


def _unit_key(units: dict[str, tuple[str, str, bool]], written: str) -> str:
    return re.sub(r"\s", "", written) if written not in units else written


def _de_unit(m: re.Match[str]) -> str:
    unit = _unit_key(UNITS_DE, m.group("unit"))
    plural, singular, feminine = UNITS_DE[unit]
    whole, fraction, sign = m.group("whole"), m.group("fraction"), sign_words(m.group("sign"), DE)
    if unit == "m" and fraction and len(fraction) == 2:  # "1,80 m": "ein Meter achtzig"
        words = f"{sign}{number(whole, None, DE, one='ein')} Meter"
        return f"{words} {cardinal(int(fraction), DE)}" if int(fraction) else words
    single = whole == "1" and not fraction
    words = number(whole, fraction, DE, one="eine" if feminine else "ein")
    return f"{sign}{words} {singular if single else plural}"


# "1 Stunde": the gender of a few nouns that often follow a number
FEMININE_DE = {"Stunde", "Minute", "Sekunde", "Woche", "Person", "Million", "Milliarde", "Nacht"}
NOT_FEMININE_DE = {
    "Grad", "Prozent", "Euro", "Cent", "Dollar", "Meter", "Kilometer", "Zentimeter",
    "Millimeter", "Liter", "Kilogramm", "Kilo", "Gramm", "Tag", "Monat", "Jahr", "Mal",
    "Stück", "Punkt", "Platz", "Kind", "Mensch", "Glas", "Ei",
}  # fmt: skip


def _de_number(m: re.Match[str]) -> str:
    whole, fraction, sign = m.group("whole"), m.group("fraction"), m.group("sign")
    if not fraction and not sign and re.fullmatch(r"1[1-9]\d\d", whole):
        return year(int(whole), DE)
    rest = m.string[m.end() :]
    if whole == "1" and not fraction:
        noun = re.match(r" ([A-ZÄÖÜ][a-zäöüß]+)", rest)
        if noun and noun.group(1) in FEMININE_DE:
            return sign_words(sign, DE) + "eine"
        if noun and noun.group(1) in NOT_FEMININE_DE:
            return sign_words(sign, DE) + "ein"
        if noun:
            return m.group(0)  # "1 Katze": "ein" or "eine" depends on the noun's gender
    before = _words_before(m.string, m.start(), 1)
    if rest.startswith(". ") and before and before[0].lower() == "ein":
        return m.group(0)  # "ein 2. Versuch": zweiter, zweites or zweite, by gender
    return sign_words(sign, DE) + number(whole, fraction, DE)


def _abbreviation(written: str, ends_sentence: bool = False) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        words = written
        before = m.string[max(0, m.start() - 8) : m.start()]
        starts_sentence = m.start() == 0 or re.search(r"[.!?]\s+$", before)
        if starts_sentence and m.group(0)[0].isupper() and words[0].islower():
            words = words[0].upper() + words[1:]  # "No. 7 is here."
        if ends_sentence:
            rest = m.string[m.end() :]
            if not rest.strip() or re.match(r"\s*\n|\s+[A-ZÄÖÜ]", rest):
                return words + "."
        return words

    return replace


def _fixed(words: str) -> Callable[[re.Match[str]], str]:
    return lambda m: words


def _abbreviations(table: list[tuple[str, str, bool]]) -> list[Rule]:
    return [(re.compile(p), _abbreviation(w, final)) for p, w, final in table]


ABBREVIATIONS_DE: list[tuple[str, str, bool]] = [
    (r"\bz\.\s?B\.", "zum Beispiel", False),
    (r"\bd\.\s?h\.", "das heißt", False),
    (r"\bu\.\s?a\.", "unter anderem", False),
    (r"\bu\.\s?U\.", "unter Umständen", False),
    (r"\bv\.\s?a\.", "vor allem", False),
    (r"\bz\.\s?T\.", "zum Teil", False),
    (r"\bz\.\s?Zt\.", "zurzeit", False),
    (r"\bi\.\s?d\.\s?R\.", "in der Regel", False),
    (r"\bo\.\s?Ä\.", "oder Ähnliches", True),
    (r"\bu\.\s?Ä\.", "und Ähnliches", True),
    (r"\bs\.\s?o\.", "siehe oben", True),
    (r"\bs\.\s?u\.", "siehe unten", True),
    (r"\bu\.\s?s\.\s?w\.", "und so weiter", True),
    (r"\busw\.", "und so weiter", True),
    (r"\betc\.", "et cetera", True),
    (r"\bv\.\s?Chr\.", "vor Christus", True),
    (r"\bn\.\s?Chr\.", "nach Christus", True),
    (r"\bbzw\.", "beziehungsweise", False),
    (r"\bca\.", "circa", False),
    (r"\bDr\.|\bDr(?= [A-ZÄÖÜ])", "Doktor", False),
    (r"\bProf\.", "Professor", False),
    (r"\bNr\.", "Nummer", False),
    (r"\bHr\.", "Herr", False),
    (r"\bevtl\.", "eventuell", False),
    (r"\bggf\.", "gegebenenfalls", False),
    (r"\binkl\.", "inklusive", False),
    (r"\bexkl\.", "exklusive", False),
    (r"\bzzgl\.", "zuzüglich", False),
    (r"\bmax\.", "maximal", False),
    (r"\bmind\.", "mindestens", False),
    (r"\bbspw\.", "beispielsweise", False),
    (r"\bsog\.", "sogenannte", False),
    (r"\bvgl\.", "vergleiche", False),
    (r"\bgeb\.", "geboren", False),
    (r"\bStr\.", "Straße", False),
    (r"\bJh\.", "Jahrhundert", False),
]

DE_NUMBER = number_pattern(DE)
DE_AMOUNT = r"(?P<whole>\d{1,3}(?:\.\d{3})+(?!\d)|\d+)(?:,(?P<cents>\d\d|-|\u2013))?"
DE_CURRENCY = r"€|EUR\b|Euro\b|\$|USD\b|Dollar\b|£|GBP\b|Pfund\b|CHF\b|Franken\b"
DAY_MONTH_DOT = r"(?<![\w.,])(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\."

GERMAN: list[Rule] = [
    *_abbreviations(ABBREVIATIONS_DE),
    (re.compile(r"(?<![\w.,-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w-])"), _de_iso_date),
    # "10:00-12:00 Uhr", "9-17 Uhr" (or with an en dash): "zehn bis zwölf Uhr"
    (
        re.compile(
            r"(?<![\w.,:])(?P<a>[01]?\d|2[0-4])(?::00)?\s?(?:[\u2013—]|-|\sbis\s)\s?"
            r"(?P<b>[01]?\d|2[0-4])(?::00)?\s?Uhr\b"
        ),
        lambda m: f"{cardinal(int(m['a']), DE)} bis {_de_hour(m['b'])} Uhr",
    ),
    (RANGE, _range("bis")),
    (re.compile(DAY_MONTH_DOT + r"(?:\s?(?P<y>\d{4}))?(?![\d])"), _de_numeric_date),
    (
        re.compile(
            rf"(?<![\w.,])(?P<d>\d{{1,2}})\.\s?(?P<m>{MONTH_DE})\b(?:\s(?P<y>\d{{4}})(?!\d))?"
        ),
        _de_named_date,
    ),
    (
        re.compile(
            r"(?i:\b(?P<article>der|die|das|dem|den|des|am|im|zum|zur|vom|beim|"
            r"jede|jedes|jeden|jedem))\s(?P<n>\d{1,3})\.(?=\s[^\W\d])"
        ),
        _de_article_ordinal,
    ),
    # "Er kam als 1. ins Ziel": a number, a dot and a lowercase word is an ordinal.
    (
        re.compile(r"(?<![\w.,])(?P<n>\d{1,3})\.(?=\s[a-zäöüß])"),
        lambda m: german_ordinal(int(m["n"]), m),
    ),
    (
        re.compile(
            r"(?<![\w.,:])(?P<h>[01]?\d|2[0-4]):(?P<min>[0-5]\d)(?::(?P<s>[0-5]\d))?"
            r"(?![\d:])(?:\s?Uhr\b)?"
        ),
        _de_time,
    ),
    (re.compile(r"(?<![\w.,])(?P<h>[01]?\d|2[0-4])\.(?P<min>[0-5]\d)(?P<s>)\s?Uhr\b"), _de_time),
    (re.compile(r"(?<![\w.,])(?P<h>[01]?\d|2[0-4])\s?Uhr\b"), _de_hour_only),
    (
        re.compile(r"(?<![\w.,:])(?P<a>\d{1,2}):(?P<b>\d)(?![\d:])"),
        lambda m: f"{cardinal(int(m['a']), DE)} zu {cardinal(int(m['b']), DE)}",
    ),
    (
        re.compile(
            rf"(?:(?<![\w.,\d])(?P<sign>[-\u2212+]))?(?:(?P<pre>€|\$|£)\s?)?(?<![\w.,]){DE_AMOUNT}"
            rf"(?(pre)|\s?(?P<cur>{DE_CURRENCY}))"
        ),
        _de_money,
    ),
    (re.compile(r"(?<=\d)\s?[\u2212]\s?(?=\d)|(?<=\d)\s[-]\s(?=\d)"), _fixed(" minus ")),
    (re.compile(r"(?<=\d)\s?\+\s?(?=\d)"), _fixed(" plus ")),
    (re.compile(r"(?<=\d)\s?[\u00d7·]\s?(?=\d)|(?<=\d)\s[*x]\s(?=\d)"), _fixed(" mal ")),
    (re.compile(r"(?<=\d)\s?÷\s?(?=\d)"), _fixed(" geteilt durch ")),
    (re.compile(r"(?<=[\d\s])=\s?(?=[-\u2212]?\d)"), lambda m: "gleich "),
    (re.compile(DE_NUMBER + r"\s?" + _unit_pattern(UNITS_DE)), _de_unit),
    (re.compile(DE_NUMBER + r"(?!\w)"), _de_number),
    (re.compile(r"°\s?C\b"), _fixed("Grad Celsius")),
    (re.compile(r"°"), _fixed("Grad")),
    (re.compile(r"\s?%"), _fixed(" Prozent")),
    (re.compile(r"\s?€"), _fixed(" Euro")),
    (re.compile(r"(?<=\s)&(?=\s)"), _fixed("und")),
    (re.compile(r"§\s?"), _fixed("Paragraf ")),
    (re.compile(r"(?<![\w~])~\s?(?=\w)"), _fixed("circa ")),
]


# ---------------------------------------------------------------------------- English

MONTHS_EN = MONTHS["en"]
MONTH_EN = "|".join(MONTHS_EN)


def _en_month_day(m: re.Match[str]) -> str:
    words = f"{m.group('m')} {ordinal(int(m.group('d')), EN)}"
    if m.group("y"):
        words += f"{m.group('sep')}{year(int(m.group('y')), EN)}"
    return words


def _en_day_month(m: re.Match[str]) -> str:
    before = _words_before(m.string, m.start(), 1)
    the = "" if before and before[0].lower() == "the" else "the "
    words = f"{the}{ordinal(int(m.group('d')), EN)} of {m.group('m')}"
    if m.group("y"):
        words += f" {year(int(m.group('y')), EN)}"
    return words


def _en_date(day: int, month: int, year_: str | None, month_first: bool) -> str | None:
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    name = MONTHS_EN[month - 1]
    if month_first:
        words = f"{name} {ordinal(day, EN)}"
        return f"{words}, {year(int(year_), EN)}" if year_ else words
    words = f"the {ordinal(day, EN)} of {name}"
    return f"{words} {year(int(year_), EN)}" if year_ else words


def _en_slash_date(month_first: bool) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        a, b = int(m.group("a")), int(m.group("b"))
        first = (month_first and a <= 12) or b > 12
        words = _en_date(b, a, m.group("y"), True) if first else _en_date(a, b, m.group("y"), False)
        return words or m.group(0)

    return replace


def _en_iso_date(month_first: bool) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        words = _en_date(int(m.group("d")), int(m.group("m")), m.group("y"), month_first)
        return words or m.group(0)

    return replace


def _en_minutes(minutes: int) -> str:
    if minutes < 10:
        return f"oh {cardinal(minutes, EN)}"
    return cardinal(minutes, EN)


def _en_time(m: re.Match[str]) -> str:
    hour, minutes = int(m.group("h")), int(m.group("min") or 0)
    marker = (m.group("ampm") or "").lower()
    if not marker and hour >= 13 and hour < 24:
        hour, marker = hour - 12, "p"
    elif not marker and hour in (0, 24):
        hour, marker = 12, "a"
    words = cardinal(hour, EN)
    if minutes:
        words += f" {_en_minutes(minutes)}"
    elif not marker:
        words += " o'clock"
    if marker:
        # "p.m." unless the sentence's own period follows and completes it
        words += f" {marker}.m" + ("" if m.string.startswith(".", m.end()) else ".")
    return words


CURRENCIES_EN = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "GBP": ("pound", "pounds", "penny", "pence"),
}


def _en_money(m: re.Match[str]) -> str:
    one, many, small_one, small_many = CURRENCIES_EN[m.group("pre") or m.group("cur")]
    sign = sign_words(m.group("sign"), EN)
    whole = m.group("whole").replace(",", "")
    fraction = m.group("fraction")
    if m.group("scale"):
        return f"{sign}{number(whole, fraction, EN)} {m.group('scale')} {many}"
    if fraction and len(fraction) == 2:
        cents = int(fraction)
        cents_words = f"{cardinal(cents, EN)} {small_one if cents == 1 else small_many}"
        if int(whole) == 0:
            return f"{sign}{cents_words}"
        unit = one if whole == "1" else many
        if not cents:
            return f"{sign}{cardinal(int(whole), EN)} {unit}"
        return f"{sign}{cardinal(int(whole), EN)} {unit} and {cents_words}"
    single = whole == "1" and not fraction
    return f"{sign}{number(whole, fraction, EN)} {one if single else many}"


UNITS_EN: dict[str, tuple[str, str, bool]] = {
    "km/h": ("kilometers per hour", "kilometer per hour", False),
    "mph": ("miles per hour", "mile per hour", False),
    "m/s": ("meters per second", "meter per second", False),
    "km²": ("square kilometers", "square kilometer", False),
    "m²": ("square meters", "square meter", False),
    "cm²": ("square centimeters", "square centimeter", False),
    "m³": ("cubic meters", "cubic meter", False),
    "°C": ("degrees Celsius", "degree Celsius", False),
    "°F": ("degrees Fahrenheit", "degree Fahrenheit", False),
    "°": ("degrees", "degree", False),
    "%": ("percent", "percent", False),
    "km": ("kilometers", "kilometer", False),
    "cm": ("centimeters", "centimeter", False),
    "mm": ("millimeters", "millimeter", False),
    "m": ("meters", "meter", False),
    "kg": ("kilograms", "kilogram", False),
    "mg": ("milligrams", "milligram", False),
    "g": ("grams", "gram", False),
    "ml": ("milliliters", "milliliter", False),
    "l": ("liters", "liter", False),
    "L": ("liters", "liter", False),
    "lbs": ("pounds", "pound", False),
    "lb": ("pounds", "pound", False),
    "oz": ("ounces", "ounce", False),
    "ft": ("feet", "foot", False),
    "mi": ("miles", "mile", False),
    "kWh": ("kilowatt hours", "kilowatt hour", False),
    "kW": ("kilowatts", "kilowatt", False),
    "h": ("hours", "hour", False),
    "hrs": ("hours", "hour", False),
    "min": ("minutes", "minute", False),
}


def _en_unit(m: re.Match[str]) -> str:
    plural, singular, _ = UNITS_EN[_unit_key(UNITS_EN, m.group("unit"))]
    single = m.group("whole") == "1" and not m.group("fraction")
    words = number(m.group("whole"), m.group("fraction"), EN)
    return f"{sign_words(m.group('sign'), EN)}{words} {singular if single else plural}"


def _en_number(m: re.Match[str]) -> str:
    whole, fraction, sign = m.group("whole"), m.group("fraction"), m.group("sign")
    if not fraction and not sign and re.fullmatch(r"1[1-9]\d\d", whole):
        return year(int(whole), EN)
    return sign_words(sign, EN) + number(whole, fraction, EN)


ABBREVIATIONS_EN: list[tuple[str, str, bool]] = [
    (r"\be\.\s?g\.", "for example", False),
    (r"\bi\.\s?e\.", "that is", False),
    (r"\betc\.", "et cetera", True),
    (r"\bapprox\.", "approximately", False),
    (r"\bca\.", "circa", False),
    (r"\bDr\.|\bDr(?= [A-Z])", "Doctor", False),
    (r"\bMr\.|\bMr(?= [A-Z])", "Mister", False),
    (r"\bMrs\.|\bMrs(?= [A-Z])", "Missus", False),
    (r"\bMs\.|\bMs(?= [A-Z])", "Miz", False),
    (r"\bProf\.", "Professor", False),
    (r"\bJr\.", "Junior", False),
    (r"\bSr\.", "Senior", False),
    (r"\bvs\.", "versus", False),
    (r"\b[Nn]o\.\s?(?=\d)", "number ", False),
]

EN_NUMBER = number_pattern(EN)
EN_CURRENCY = r"\$|USD\b|€|EUR\b|£|GBP\b"
EN_SCALE = r"(?:\s(?P<scale>thousand|million|billion|trillion)\b)?"
EN_TIME = (
    r"(?<![\w.,:])(?P<h>[01]?\d|2[0-4]):(?P<min>[0-5]\d)(?::[0-5]\d)?(?![\d:])"
    r"(?:\s?(?P<ampm>[AaPp])\.?\s?[Mm]\.?(?![\w]))?"
)


def _english(month_first: bool) -> list[Rule]:
    return [
        *_abbreviations(ABBREVIATIONS_EN),
        (re.compile(r"(?<=\d),(?=\d{1,2}(?!\d))"), _fixed(", ")),  # "2,5" is two numbers
        (
            re.compile(r"(?<![\w.,-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w-])"),
            _en_iso_date(month_first),
        ),
        (RANGE, _range("to")),
        (
            re.compile(r"(?<![\w./])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})(?![\w/])"),
            _en_slash_date(month_first),
        ),
        (
            re.compile(
                rf"\b(?P<m>{MONTH_EN})\s(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b"
                rf"(?:(?P<sep>,?\s)(?P<y>\d{{4}})\b)?"
            ),
            _en_month_day,
        ),
        (
            re.compile(
                rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?(?P<m>{MONTH_EN})\b"
                rf"(?:,?\s(?P<y>\d{{4}})\b)?"
            ),
            _en_day_month,
        ),
        (
            re.compile(r"\b(?P<n>\d+)(?:st|nd|rd|th)\b"),
            lambda m: ordinal(int(m["n"]), EN),
        ),
        (re.compile(EN_TIME), _en_time),
        (
            re.compile(r"(?<![\w.,:])(?P<h>[01]?\d)(?P<min>)\s?(?P<ampm>[AaPp])\.?[Mm]\.?(?!\w)"),
            _en_time,
        ),
        (
            re.compile(r"(?<![\w.,:])(?P<a>\d{1,2}):(?P<b>\d)(?![\d:])"),
            lambda m: f"{cardinal(int(m['a']), EN)} to {cardinal(int(m['b']), EN)}",
        ),
        (
            re.compile(
                rf"(?:(?<![\w.\d])(?P<sign>[-\u2212+]))?(?:(?P<pre>\$|€|£)\s?)"
                rf"(?P<whole>\d{{1,3}}(?:,\d{{3}})+(?!\d)|\d+)(?:\.(?P<fraction>\d+))?"
                rf"{EN_SCALE}(?P<cur>)"
            ),
            _en_money,
        ),
        (
            re.compile(
                rf"(?:(?<![\w.\d])(?P<sign>[-\u2212+]))?(?P<pre>)(?<![\w.])"
                rf"(?P<whole>\d{{1,3}}(?:,\d{{3}})+(?!\d)|\d+)(?:\.(?P<fraction>\d+))?"
                rf"{EN_SCALE}\s?(?P<cur>{EN_CURRENCY})"
            ),
            _en_money,
        ),
        (re.compile(r"(?<=\d)\s?[\u2212]\s?(?=\d)|(?<=\d)\s[-]\s(?=\d)"), _fixed(" minus ")),
        (re.compile(r"(?<=\d)\s?\+\s?(?=\d)"), _fixed(" plus ")),
        (re.compile(r"(?<=\d)\s?[\u00d7·]\s?(?=\d)|(?<=\d)\s[*x]\s(?=\d)"), _fixed(" times ")),
        (re.compile(r"(?<=\d)\s?÷\s?(?=\d)"), _fixed(" divided by ")),
        (re.compile(r"(?<=[\d\s])=\s?(?=[-\u2212]?\d)"), _fixed("equals ")),
        (re.compile(EN_NUMBER + r"\s?" + _unit_pattern(UNITS_EN)), _en_unit),
        (re.compile(EN_NUMBER + r"(?!\w)"), _en_number),
        (re.compile(r"°\s?C\b"), _fixed("degrees Celsius")),
        (re.compile(r"°"), _fixed("degrees")),
        (re.compile(r"\s?%"), _fixed(" percent")),
        (re.compile(r"(?<=\s)&(?=\s)"), _fixed("and")),
        (re.compile(r"(?<![\w~])~\s?(?=\w)"), _fixed("about ")),
    ]


ENGLISH_US = _english(month_first=True)
ENGLISH_DAY_FIRST = _english(month_first=False)
