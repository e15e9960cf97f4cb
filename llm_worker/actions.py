"""Requests to do something Uhrwerk cannot do: timers, alarms, reminders, calls, messages.

A watch is asked for a timer as often as for the time, and Uhrwerk only answers
questions. Asked anyway, the offline model said "Okay, Timer auf fünf Minuten
gestellt." and "Okay, morgen um sieben Uhr." and nothing rang: a promise the user
relies on and nobody keeps. So these requests get an honest answer without the model,
whichever backend runs (Gemini cannot set the watch's timer either). Saying so in the
instruction as well ("Du beantwortest nur Fragen: Timer, … kannst du nicht") was tried
and cost the 1.5B three of bench.answer_quality's 52 questions (42 → 39), so it is not
there; a phrasing these patterns miss still reaches the model.
"""

from __future__ import annotations

import re

CLOCKS = {
    "de": re.compile(
        r"\b(stell|stelle|starte|start|setz|setze|mach|mache|erstell|erstelle)\w* "
        r"(\w+ ){0,3}(timer|wecker|countdown|eieruhr|alarm|erinnerung)\b|"
        r"^(timer|wecker|countdown|eieruhr|erinnerung) (auf|für|in|um) |"
        r"\bweck\w* (\w+ ){0,2}(mich|uns)\b|\berinner\w* (\w+ ){0,2}(mich|uns)\b|"
        r"\b(mich|uns) (\w+ ){0,3}(wecken|erinnern)\b|"
        # the verb last: "Kannst du einen Timer auf zehn Minuten stellen?"
        r"\b(timer|wecker|countdown|eieruhr|alarm|erinnerung) (\w+ ){0,4}"
        r"(stellen|starten|setzen|machen)\b"
    ),
    "en": re.compile(
        r"\b(set|start|create|make)( me)? (\w+ ){0,3}(timer|alarm|reminder|countdown)\b|"
        r"^(timer|alarm|countdown) (for|at|in) |"
        r"\bwake (\w+ ){0,2}up\b|\bwake me\b|\bremind (me|us)\b"
    ),
}
CONTACTS = {
    "de": re.compile(
        r"^(\w+ )?(ruf|rufe) (\w+ ){1,3}an$|^telefonier\w* mit |"
        r"\b(schreib|schick|sende|verschick)\w* (\w+ ){0,4}"
        r"(nachricht|sms|whatsapp|mail|e mail|email)\b|"
        # the verb last: "Kannst du Paul eine Nachricht schreiben?", "… Mama anrufen?"
        r"\b(nachricht|sms|whatsapp|mail|email)\w* (\w+ ){0,4}"
        r"(schreiben|schicken|senden|verschicken)\b|\b(kannst|könntest) du (\w+ ){1,3}anrufen\b"
    ),
    "en": re.compile(
        r"^(please )?(call|phone|dial|ring) (\w+ ){0,2}\w+$|"
        r"\b(send|text|write) (\w+ ){0,4}(message|text|sms|whatsapp|email|mail)\b|^text \w+ "
    ),
}
HONEST = {
    ("de", "clock"): (
        "Timer, Wecker und Erinnerungen kann ich nicht stellen, "
        "dafür hat deine Uhr ihre eigene App."
    ),
    ("en", "clock"): (
        "I can't set timers, alarms or reminders; your watch has its own app for that."
    ),
    ("de", "contact"): (
        "Anrufen und Nachrichten schicken kann ich nicht, ich beantworte nur Fragen."
    ),
    ("en", "contact"): "I can't make calls or send messages; I can only answer questions.",
}


def answer(words: str, lang: str) -> str | None:
    """The honest answer when `words` (lower case, punctuation dropped) in `lang` ("de"
    or "en") asks for a timer, alarm, reminder, call or message; None otherwise."""
    if CLOCKS[lang].search(words):
        return HONEST[lang, "clock"]
    if CONTACTS[lang].search(words):
        return HONEST[lang, "contact"]
    return None
