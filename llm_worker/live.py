"""Questions only live data can answer (the weather, the news), for backends without it.

Told in its instruction that it has no internet, the offline model still invents the
weather now and then ("Es wird heute morgen in Berlin und München regnen." for the
same question it answered honestly a run before). So for a backend that is not
grounded (`model.grounded` is False: the local model, an own model server), these
questions get an honest answer without the model. Gemini searches and answers them.
"""

from __future__ import annotations

import re

WHEN_DE = r"( (heute|morgen|übermorgen|gerade|jetzt|draußen|am wochenende|in [\w ]+))*"
WHEN_EN = r"( (today|tomorrow|now|right now|outside|this weekend|in [\w ]+))*"
WEATHER = {
    "de": re.compile(
        r"\bwetter\w*|"
        r"\b(regnet es|schneit es|wird es (\w+ )*(regnen|schneien|gewittern|gewitter geben))\b|"
        r"\b(brauche|brauch) ich (\w+ )*(schirm|regenschirm|regenjacke)\b|"
        rf"\bwie (warm|kalt|heiß) (ist|wird) es{WHEN_DE}$|"
        rf"\b(wie viel|wie viele|welche temperatur) (grad )?(haben wir|hat es|ist es|wird es)"
        rf"{WHEN_DE}$"
    ),
    "en": re.compile(
        # "weather…": Whisper locked to German wrote an English question's "weather
        # like" as "weatherlike".
        r"\bweather\w*|\bforecast\b|"
        r"\b(is it raining|is it snowing|will it (\w+ )*(rain|snow)|"
        r"is it going to (rain|snow)|(do|will) i need an umbrella)\b|"
        rf"\bhow (warm|cold|hot) (is it|will it be|is it going to be){WHEN_EN}$|"
        rf"\bwhat('s| is) the temperature{WHEN_EN}$"
    ),
}
NEWS = {
    "de": re.compile(r"\b(nachrichten|schlagzeilen|was gibt es neues in der welt)\b"),
    "en": re.compile(r"\b(news|headlines)\b"),
}
HONEST = {
    ("de", "weather"): (
        "Ich habe keinen Internetzugang und deshalb keine Wetterdaten. "
        "Das Wetter kann ich dir leider nicht sagen."
    ),
    ("en", "weather"): (
        "I have no internet access and so no weather data. I'm sorry, I can't tell you the weather."
    ),
    ("de", "news"): (
        "Ich habe keinen Internetzugang und deshalb keine aktuellen Nachrichten. "
        "Was gerade passiert, kann ich dir leider nicht sagen."
    ),
    ("en", "news"): (
        "I have no internet access and so no current news. "
        "I'm sorry, I can't tell you what is happening."
    ),
}


def answer(words: str, lang: str) -> str | None:
    """The honest answer when `words` (lower case, punctuation dropped) in `lang` ("de"
    or "en") asks for the weather or the news; None for anything else."""
    if WEATHER[lang].search(words):
        return HONEST[lang, "weather"]
    if NEWS[lang].search(words):
        return HONEST[lang, "news"]
    return None
