"""Arithmetic asked aloud ("Wie viel ist sieben mal acht?", "What's 12 divided by 4?"),
answered exactly, without the model.

The packaged offline model gets simple sums wrong ("Sechs mal acht ist 42."), and a
watch is asked them often. Like the clock intents, the match is on the whole question:
numbers (digits or German/English number words up to the millions, decimals with a
comma or a point) joined by plus, minus, times and divided-by, with the usual
precedence; anything else ("Was ist die Wurzel aus zwei?", "two plus two is four,
right?") falls through to the model.
"""

from __future__ import annotations

import re
from fractions import Fraction

# --- number words -------------------------------------------------------------------

DE_UNITS = {
    "null": 0, "eins": 1, "ein": 1, "eine": 1, "einen": 1, "zwei": 2, "zwo": 2, "drei": 3,
    "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
    "elf": 11, "zwölf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15,
    "sechzehn": 16, "siebzehn": 17, "achtzehn": 18, "neunzehn": 19,
}  # fmt: skip
DE_TENS = {
    "zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50, "sechzig": 60,
    "siebzig": 70, "achtzig": 80, "neunzig": 90,
}  # fmt: skip
EN_UNITS = {
    "zero": 0, "one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19,
}  # fmt: skip
EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip


def _german_below_1000(word: str) -> int | None:
    """ "siebenhundertdreiundzwanzig" → 723; a German number word is one word."""
    value = 0
    if "hundert" in word:
        head, _, word = word.partition("hundert")
        hundreds = 1 if head in ("", "ein") else DE_UNITS.get(head)
        if hundreds is None or hundreds > 9:
            return None
        value = hundreds * 100
        if not word:
            return value
    if word in DE_UNITS:
        return value + DE_UNITS[word]
    if word in DE_TENS:
        return value + DE_TENS[word]
    unit, und, tens = word.partition("und")
    if und and unit in DE_UNITS and DE_UNITS[unit] < 10 and tens in DE_TENS:
        return value + DE_UNITS[unit] + DE_TENS[tens]
    return None


def german_number(word: str) -> int | None:
    """One German number word up to 999,999 ("zweitausendfünf" → 2005), else None."""
    if "tausend" in word:
        head, _, rest = word.partition("tausend")
        thousands = 1 if head in ("", "ein") else _german_below_1000(head)
        low = _german_below_1000(rest) if rest else 0
        if thousands is None or low is None:
            return None
        return thousands * 1000 + low
    return _german_below_1000(word)


def english_number(words: list[str]) -> int | None:
    """Several English words ("one hundred and five", "twenty-one") → int, else None."""
    total, current, seen = 0, 0, False
    for word in words:
        if word == "and" and seen:
            continue
        parts = word.split("-")
        if len(parts) == 2 and parts[0] in EN_TENS and parts[1] in EN_UNITS:
            current += EN_TENS[parts[0]] + EN_UNITS[parts[1]]
        elif word in EN_UNITS:
            current += EN_UNITS[word]
        elif word in EN_TENS:
            current += EN_TENS[word]
        elif word == "hundred" and seen:
            current = max(current, 1) * 100
        elif word == "thousand" and seen:
            total += max(current, 1) * 1000
            current = 0
        elif word == "million" and seen:
            total += max(current, 1) * 1_000_000
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


# --- questions ----------------------------------------------------------------------

OPERATORS = {
    "plus": "+", "und": "+", "minus": "-", "weniger": "-", "mal": "*", "times": "*",
    "multipliziert mit": "*", "multiplied by": "*", "x": "*", "geteilt durch": "/",
    "dividiert durch": "/", "durch": "/", "divided by": "/", "over": "/",
    "+": "+", "-": "-", "*": "*", "\u00d7": "*", "·": "*", "/": "/", ":": "/", "÷": "/",
}  # fmt: skip
# Without a wake phrase: `intents.answer` drops it before asking here.
DE_QUESTION = re.compile(
    r"^(?:(?:sag mir |kannst du mir sagen |weißt du )?(?:wie ?viel|was) "
    r"(?:ist|sind|ergibt|ergeben|gibt|macht|machen) |rechne |berechne )?(?P<sum>.+?)"
    r"(?: (?:ist|sind|ergibt|ergeben|gibt|macht|machen))?(?: denn| bitte| eigentlich)*$"
)
EN_QUESTION = re.compile(
    r"^(?:(?:tell me |do you know )?(?:what is|what's|whats|how much is|how much are) "
    r"|calculate |compute )?(?P<sum>.+?)(?: please)?$"
)
NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


def _normalise(question: str) -> str:
    text = question.lower().replace("\u2019", "'").strip()
    text = re.sub(r"[?!.]+$", "", text).strip()
    text = re.sub(r"(?<=\d)\s*([x\u00d7·*/:÷+])\s*(?=\d)", r" \1 ", text)  # "7x8" → "7 x 8"
    text = re.sub(r"(?<=\d)-(?=\d)", " - ", text)
    text = re.sub(r"[,;](?!\d)", " ", text)  # a comma between words, not "2,5"
    text = text.replace("wieviel", "wie viel")
    # "siebenmal 8", as Whisper writes "sieben mal acht": a number word joined to "mal".
    text = re.sub(
        r"\b(\w+)mal\b",
        lambda m: f"{m[1]} mal" if german_number(m[1]) is not None else m[0],
        text,
    )
    return re.sub(r"\s+", " ", text).strip()


def _tokens(expression: str, lang: str) -> list[str | Fraction] | None:
    """Numbers and operators, alternating and starting with a number, or None."""
    words = expression.split()
    out: list[str | Fraction] = []
    pending: list[str] = []

    def flush() -> bool:
        if not pending:
            return False
        if len(pending) == 1 and NUMBER.match(pending[0]):
            out.append(Fraction(pending[0].replace(",", ".")))
        elif lang == "de" and len(pending) == 1 and german_number(pending[0]) is not None:
            out.append(Fraction(german_number(pending[0]) or 0))
        elif lang == "en" and (value := english_number(pending)) is not None:
            out.append(Fraction(value))
        else:
            return False
        pending.clear()
        return True

    i = 0
    while i < len(words):
        two = " ".join(words[i : i + 2])
        operator = OPERATORS.get(two) if len(words) > i + 1 else None
        step = 2
        if operator is None:
            operator, step = OPERATORS.get(words[i]), 1
        # "und" joins numbers only in German ("drei und vier").
        if operator is not None and not (lang == "en" and words[i] == "und"):
            if not flush():
                return None
            out.append(operator)
            i += step
            continue
        pending.append(words[i])
        i += 1
    if not flush() or len(out) < 3:
        return None
    return out


def _evaluate(tokens: list[str | Fraction]) -> Fraction | None:
    """Times and divided-by before plus and minus; None for division by zero."""
    terms: list[Fraction] = []
    signs: list[str] = []
    current = tokens[0]
    assert isinstance(current, Fraction)
    value = current
    for operator, number in zip(tokens[1::2], tokens[2::2], strict=True):
        assert isinstance(operator, str) and isinstance(number, Fraction)
        if operator == "*":
            value *= number
        elif operator == "/":
            if number == 0:
                return None
            value /= number
        else:
            terms.append(value)
            signs.append(operator)
            value = number
    terms.append(value)
    result = terms[0]
    for sign, term in zip(signs, terms[1:], strict=True):
        result = result + term if sign == "+" else result - term
    return result


def _say(value: Fraction, lang: str) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")  # two decimals are enough aloud
    return text.replace(".", ",") if lang == "de" else text


SAID = {"+": ("plus", "plus"), "-": ("minus", "minus"), "*": ("mal", "times"),
        "/": ("geteilt durch", "divided by")}  # fmt: skip


def answer(question: str) -> tuple[str, str] | None:
    """(spoken answer, "de" or "en") when the whole question is a sum, else None."""
    text = _normalise(question)
    for lang, pattern in (("de", DE_QUESTION), ("en", EN_QUESTION)):
        found = pattern.match(text)
        if found is None:
            continue
        tokens = _tokens(found["sum"], lang)
        if tokens is None:
            continue
        result = _evaluate(tokens)
        if result is None:
            return (
                ("Durch null kann man nicht teilen.", lang)
                if lang == "de"
                else ("You can't divide by zero.", lang)
            )
        said = " ".join(
            SAID[t][lang == "en"] if isinstance(t, str) else _say(t, lang) for t in tokens
        )
        exact = result == round(result, 2)
        if lang == "de":
            verb = "ist" if exact else "ist ungefähr"
            return f"{said[0].upper()}{said[1:]} {verb} {_say(result, lang)}.", lang
        verb = "is" if exact else "is about"
        return f"{said[0].upper()}{said[1:]} {verb} {_say(result, lang)}.", lang
    return None
