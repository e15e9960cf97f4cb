"""for_speech: the Markdown and emoji of model answers turned into plain sentences."""

# ruff: noqa: RUF001  (en dashes, minus and multiplication signs are what is tested)

from __future__ import annotations

import emoji
import pytest

from shared.speech_text import EMOJI_CHARS, for_speech

MARKDOWN = [
    # emphasis
    ("**Wichtig:** Bitte *jetzt* gehen.", "Wichtig: Bitte jetzt gehen."),
    ("Das ist __richtig__ und _kursiv_.", "Das ist richtig und kursiv."),
    ("Das ist ***sehr*** wichtig.", "Das ist sehr wichtig."),
    ("Die **Haupt**stadt.", "Die Hauptstadt."),
    ("Mit ~~falsch~~ richtig.", "Mit richtig."),
    ("Ein \\*Stern\\* und \\_Strich\\_.", "Ein *Stern* und _Strich_."),
    # headings
    ("# Überschrift\nText.", "Überschrift. Text."),
    ("## Wetter morgen\n\nEs wird warm.", "Wetter morgen. Es wird warm."),
    ("### Zutaten:\nMehl", "Zutaten: Mehl"),
    ("## Was tun? ##\nNichts.", "Was tun? Nichts."),
    ("Titel\n=====\nText hier", "Titel. Text hier"),
    ("Titel\n-----\nText hier", "Titel. Text hier"),
    # lists: each item a sentence
    ("- Sonne\n- Wind aus Südwest\n- Regen: 10 %", "Sonne. Wind aus Südwest. Regen: 10 %."),
    ("* eins\n* zwei!\n+ drei?", "eins. zwei! drei?"),
    ("• erstens\n• zweitens", "erstens. zweitens."),
    (
        "1. Mehl sieben\n2. Eier schlagen!\n3. Alles mischen",
        "Mehl sieben. Eier schlagen! Alles mischen.",
    ),
    ("1) Erstens\n2) Zweitens", "Erstens. Zweitens."),
    ("1. Eins\nDazu mehr.\n\n2. Zwei", "Eins. Dazu mehr. Zwei."),
    ("Hier die Liste:\n- a\n- b", "Hier die Liste: a. b."),
    ("- Punkt eins,\n  der weitergeht\n- Punkt zwei", "Punkt eins, der weitergeht. Punkt zwei."),
    ("- Äpfel,\n- Birnen,\n- Pflaumen", "Äpfel. Birnen. Pflaumen."),
    ("- [ ] offen\n- [x] erledigt", "offen. erledigt."),
    ("- außen\n    - innen\n- wieder außen", "außen. innen. wieder außen."),
    ("> - zitiert\n> - auch", "zitiert. auch."),
    # links, URLs, images, footnotes, HTML
    ("Siehe [die Doku](https://example.com/docs) hier.", "Siehe die Doku hier."),
    ('Siehe [die Doku](https://example.com/docs "Titel").', "Siehe die Doku."),
    ("Siehe [https://www.example.com/a](https://www.example.com/a).", "Siehe example.com."),
    ("Siehe [hier][1].\n\n[1]: https://example.com", "Siehe hier."),
    ("Mehr unter https://www.dwd.de/DE/wetter/node.html.", "Mehr unter dwd.de."),
    ("Quelle: www.tagesschau.de/inland", "Quelle: tagesschau.de"),
    ("Siehe <https://www.python.org/x>.", "Siehe python.org."),
    ("Wiki (https://de.wikipedia.org/wiki/A_(B)) sagt das.", "Wiki (de.wikipedia.org) sagt das."),
    ("Mail an <info@example.com>.", "Mail an info@example.com."),
    ("Ein Bild: ![Katze auf dem Sofa](katze.png) hier.", "Ein Bild: Katze auf dem Sofa hier."),
    ("Ein Bild ![](katze.png).", "Ein Bild."),
    ("Text mit Fußnote[^1] hier.\n\n[^1]: Die Fußnote.", "Text mit Fußnote hier."),
    ("Zeile eins<br>Zeile zwei <b>fett</b>.", "Zeile eins Zeile zwei fett."),
    # code
    ("Der Befehl `ls -la` listet **alle** Dateien.", "Der Befehl ls -la listet alle Dateien."),
    ("Nimm ``a `b` c`` dafür.", "Nimm a `b` c dafür."),
    ("Code `**nicht fett**` bleibt.", "Code **nicht fett** bleibt."),
    ("So:\n\n```python\nx = 1\nprint(x)\n```\n\nFertig.", "So: x = 1. print(x). Fertig."),
    ("~~~\necho hallo\n~~~", "echo hallo."),
    # tables
    (
        "| Stadt | Temperatur |\n|---|---|\n| Berlin | 5 °C |\n| München | 3 °C |",
        "Stadt: Berlin, Temperatur: 5 °C. Stadt: München, Temperatur: 3 °C.",
    ),
    ("Name | Wert\n--- | ---\na | 1", "Name: a, Wert: 1."),
    ("| | A | B |\n|:--|:-:|--:|\n| x | 1 | 2 |", "x, A: 1, B: 2."),
    ("Vorher.\n\n| A | B |\n|---|---|\n| 1 | |\n\nNachher.", "Vorher. A: 1. Nachher."),
    # quotes, rules, line breaks
    ("> Ein Zitat\n> geht weiter", "Ein Zitat geht weiter"),
    ("Text\n\n***\n\nMehr", "Text. Mehr"),
    ("Text\n\n---\n\nMehr", "Text. Mehr"),
    ("Viele Grüße\nDein Assistent", "Viele Grüße. Dein Assistent"),
    ("Das ist ein\nlanger Satz.", "Das ist ein langer Satz."),
    ("Erster Absatz\n\nZweiter Absatz", "Erster Absatz. Zweiter Absatz"),
    ("Zeile mit Umbruch  \nund weiter\\\nund Ende.", "Zeile mit Umbruch und weiter und Ende."),
    ("Windows\r\nZeilen\r\n", "Windows. Zeilen"),
    ("", ""),
    ("   \n\n  ", ""),
]

EMOJI = [
    ("Hallo! 👋 Wie geht's? 😊", "Hallo! Wie geht's?"),
    ("Super 🎉!", "Super!"),
    ("🎉 Glückwunsch!", "Glückwunsch!"),
    ("Gut gemacht 👍🏽.", "Gut gemacht."),
    ("Familie 👨‍👩‍👧 zu Hause.", "Familie zu Hause."),
    ("In 🇩🇪 und 🏴󠁧󠁢󠁳󠁣󠁴󠁿 ist es kalt.", "In und ist es kalt."),
    ("Schritt 1️⃣ zuerst.", "Schritt zuerst."),
    ("Sonne ☀️ und Regen 🌧", "Sonne und Regen"),
    ("Ich ❤ Berlin.", "Ich Berlin."),
    ("(🎉) Feier", "Feier"),
    ("Eine Feier (🎉).", "Eine Feier."),
    ("Das ist gut ✓ und ✔️ schlecht ✗.", "Das ist gut und schlecht."),
    ("Das ist lustig :) wirklich ;-) oder :D", "Das ist lustig wirklich oder"),
    ("🌞 Sonne\n🌧️ Regen", "Sonne. Regen."),
    ("✅ Erster Punkt\n✅ Zweiter Punkt\n❌ Dritter", "Erster Punkt. Zweiter Punkt. Dritter."),
    ("## 🌤️ Wetter\nWarm.", "Wetter. Warm."),
    ("# 🎉", ""),
    ("🎉🎉🎉", ""),
    ("Heute → morgen", "Heute – morgen"),
    ("Eingabe -> Ausgabe", "Eingabe – Ausgabe"),
    ("→ erster Punkt\n→ zweiter Punkt", "erster Punkt. zweiter Punkt."),
    ("Google™ und Firma®", "Google und Firma"),
]

UNCHANGED = [
    "Wie wird das Wetter morgen in Berlin?",
    "Äpfel, Öl, Süßes und Grüße aus Köln.",
    "Er sagte: „Ja.“ Dann ging er.",
    'He said "yes" and it\'s fine.',
    "Das ist z. B. so, d. h. gut, usw.",
    "Es sind 2,5 Grad, um 14:30 Uhr, am 27.11.2026.",
    "Heute ist der 27.11.",
    "27. November ist ein Freitag.",
    "1. Januar ist Neujahr.",
    "3 * 4 = 12 und 5 - 3 = 2 und 2 + 2 = 4.",
    "a*b*c und 2*3*4 und x**2 + y**2",
    "Der Preis* gilt nur heute.",
    "Die Variable snake_case_name und file_name_here bleiben.",
    "Der Hashtag #Wetter bleibt.",
    "Minus -5 Grad und -3.",
    "Mehr Text… und noch mehr – wirklich!",
    "Die Klammer (mit Inhalt) bleibt [auch diese].",
    "Ein Satz ohne Punkt",
    "x < y und y > z",
    "Der Wert liegt bei ~5 km.",
    "C'est l'été, à 14 h 30.",
    "東京は晴れです。",
    "Привет, как дела?",
    "मैं ठीक हूँ।",  # ZWJ and virama in Indic scripts stay
]


@pytest.mark.parametrize(("text", "expected"), MARKDOWN)
def test_markdown_becomes_sentences(text: str, expected: str) -> None:
    assert for_speech(text) == expected


@pytest.mark.parametrize(("text", "expected"), EMOJI)
def test_emoji_go(text: str, expected: str) -> None:
    assert for_speech(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert for_speech(text) == text


def test_a_typical_model_answer() -> None:
    answer = (
        "## Wetter in Berlin 🌤️\n\n"
        "Morgen wird es **sonnig** und *mild*:\n\n"
        "- Höchstwerte um 14 °C\n"
        "- Wind aus Südwest, 20 km/h\n"
        "- Regenrisiko: 10 %\n\n"
        "| Tag | Wetter |\n|---|---|\n| Sa | ☀️ sonnig |\n\n"
        "Mehr unter [DWD](https://www.dwd.de). Viel Spaß! 😎"
    )
    assert for_speech(answer) == (
        "Wetter in Berlin. Morgen wird es sonnig und mild: Höchstwerte um 14 °C. "
        "Wind aus Südwest, 20 km/h. Regenrisiko: 10 %. Tag: Sa, Wetter: sonnig. "
        "Mehr unter DWD. Viel Spaß!"
    )


def test_it_is_idempotent() -> None:
    once = for_speech("# Titel\n\n- **a** 🎉\n- b\n\nSiehe https://example.com/x.")
    assert for_speech(once) == once


def test_every_emoji_has_a_character_the_fast_path_looks_for() -> None:
    # for_speech skips the emoji tokenizer for text without any of EMOJI_CHARS: that is
    # only right while every emoji the library knows has at least one of them.
    missing = [key for key in emoji.EMOJI_DATA if EMOJI_CHARS.isdisjoint(key)]
    assert missing == []
    assert EMOJI_CHARS.isdisjoint("Grüße aus Köln: 3 × 4 = 12 € – „gut“ … ß")


def test_text_without_emoji_characters_is_unchanged_by_the_emoji_step() -> None:
    text = "Das ist eine kurze Antwort über Köln, 3 # 4 * 5."
    assert for_speech(text) == text
    assert for_speech("Nummer 1️⃣ und #️⃣ 🇩🇪 ©") == "Nummer und"
