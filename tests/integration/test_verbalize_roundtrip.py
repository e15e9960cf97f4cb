"""Round trip of `verbalize` through the offline voices: each string is verbalized,
spoken by the offline engine for its language (pico2wave for German, Piper for
English), heard by the local Whisper (faster-whisper, the packaged base model, the
STT worker's settings) and compared with the words meant.

Whisper writes what it hears with digits and symbols ("14 Uhr 30", "$5.50", "2,5 kg");
the transcript is brought back to words with `verbalize` itself before the word error
rate is taken against the hand-written reference, so "14" and "vierzehn" count as the
same word, while a misreading ("27. Elfte" for "27. November", "3 colon 1") does not.
Two clock formats that Whisper writes and no answer does ("230 pm", "at 905") are
turned into clock times first.

Piper samples noise into its voice, so the same text sounds a little different each
time and is now and then misheard by chance; an English string gets a second
synthesis when the first is misheard. pico2wave is deterministic and gets one.

The second test shows that verbalize matters: without it, the voices misread these
strings (each measured, a word error rate well above the limit).
"""

from __future__ import annotations

# ruff: noqa: RUF001  (en dashes and minus signs are part of what is tested)
import os
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from shared.settings import SttSettings, TtsSettings
from tests.speech import word_error_rate
from tts_worker.verbalize import verbalize

pytestmark = pytest.mark.slow

MAX_WER = 0.2

# (language, written as an answer would be, the words meant)
CASES: list[tuple[str, str, str]] = [
    # German: times
    ("de-DE", "Der Termin ist um 14:30 Uhr.", "Der Termin ist um vierzehn Uhr dreißig."),
    ("de-DE", "Der Zug fährt um 9:05 ab.", "Der Zug fährt um neun Uhr fünf ab."),
    (
        "de-DE",
        "Wir treffen uns um 18.45 Uhr am Bahnhof.",
        "Wir treffen uns um achtzehn Uhr fünfundvierzig am Bahnhof.",
    ),
    (
        "de-DE",
        "Die Praxis ist von 10:00–12:00 Uhr geöffnet.",
        "Die Praxis ist von zehn bis zwölf Uhr geöffnet.",
    ),
    # German: dates and ordinals
    ("de-DE", "Heute ist der 27.11.", "Heute ist der siebenundzwanzigste November."),
    (
        "de-DE",
        "Am 3. Oktober ist in Deutschland Feiertag.",
        "Am dritten Oktober ist in Deutschland Feiertag.",
    ),
    (
        "de-DE",
        "Der Vertrag endet am 31.12.2027.",
        "Der Vertrag endet am einunddreißigsten Dezember zweitausendsiebenundzwanzig.",
    ),
    (
        "de-DE",
        "Sie wurde am 3.3.1999 geboren.",
        "Sie wurde am dritten März neunzehnhundertneunundneunzig geboren.",
    ),
    (
        "de-DE",
        "Der Laden öffnet am 1. Dezember um 8 Uhr.",
        "Der Laden öffnet am ersten Dezember um acht Uhr.",
    ),
    ("de-DE", "Er wurde zum 2. Mal Weltmeister.", "Er wurde zum zweiten Mal Weltmeister."),
    ("de-DE", "Er kam als 1. ins Ziel.", "Er kam als erster ins Ziel."),
    # German: signs, units, decimal commas, thousands
    (
        "de-DE",
        "Morgen werden es in Berlin -5 °C.",
        "Morgen werden es in Berlin minus fünf Grad Celsius.",
    ),
    (
        "de-DE",
        "Morgen sind es −3 °C und Schnee.",
        "Morgen sind es minus drei Grad Celsius und Schnee.",
    ),
    (
        "de-DE",
        "Der Hang hat eine Neigung von 30°.",
        "Der Hang hat eine Neigung von dreißig Grad.",
    ),
    ("de-DE", "Es werden 5–10 Grad erwartet.", "Es werden fünf bis zehn Grad erwartet."),
    ("de-DE", "Das Paket wiegt 2,5 kg.", "Das Paket wiegt zwei Komma fünf Kilogramm."),
    (
        "de-DE",
        "Die Strecke ist 42,2 km lang.",
        "Die Strecke ist zweiundvierzig Komma zwei Kilometer lang.",
    ),
    ("de-DE", "Wir brauchen 0,5 l Milch.", "Wir brauchen null Komma fünf Liter Milch."),
    ("de-DE", "Die Miete steigt um 2,5 %.", "Die Miete steigt um zwei Komma fünf Prozent."),
    (
        "de-DE",
        "In der Halle sitzen 12.000 Menschen.",
        "In der Halle sitzen zwölftausend Menschen.",
    ),
    (
        "de-DE",
        "In der Stadt leben 3,5 Mio. Menschen.",
        "In der Stadt leben drei Komma fünf Millionen Menschen.",
    ),
    (
        "de-DE",
        "Das Auto kostet 1.500 € im Monat.",
        "Das Auto kostet eintausendfünfhundert Euro im Monat.",
    ),
    (
        "de-DE",
        "Er fährt mit 120 km/h über die Autobahn.",
        "Er fährt mit einhundertzwanzig Kilometer pro Stunde über die Autobahn.",
    ),
    (
        "de-DE",
        "Die Wohnung hat 75 m² und einen Balkon.",
        "Die Wohnung hat fünfundsiebzig Quadratmeter und einen Balkon.",
    ),
    ("de-DE", "Das Spiel endete 2:1 für Bayern.", "Das Spiel endete zwei zu eins für Bayern."),
    # German: abbreviations
    (
        "de-DE",
        "Es gibt viele Obstsorten, z. B. Äpfel und Birnen.",
        "Es gibt viele Obstsorten, zum Beispiel Äpfel und Birnen.",
    ),
    ("de-DE", "Das ist teuer, d. h. wir warten.", "Das ist teuer, das heißt wir warten."),
    (
        "de-DE",
        "Es kamen viele Gäste, u. a. der Bürgermeister.",
        "Es kamen viele Gäste, unter anderem der Bürgermeister.",
    ),
    (
        "de-DE",
        "Dr. Müller hat heute keine Sprechstunde.",
        "Doktor Müller hat heute keine Sprechstunde.",
    ),
    (
        "de-DE",
        "Sie wohnt in der Hauptstraße Nr. 12.",
        "Sie wohnt in der Hauptstraße Nummer zwölf.",
    ),
    (
        "de-DE",
        "Bitte kommen Sie bzw. rufen Sie an.",
        "Bitte kommen Sie beziehungsweise rufen Sie an.",
    ),
    (
        "de-DE",
        "Wir brauchen Butter, Zucker, Eier usw.",
        "Wir brauchen Butter, Zucker, Eier und so weiter.",
    ),
    # English: times
    (
        "en-US",
        "The meeting starts at 9:05 tomorrow.",
        "The meeting starts at nine oh five tomorrow.",
    ),
    ("en-US", "The train leaves at 14:30.", "The train leaves at two thirty p.m."),
    ("en-US", "Meet me at 5 pm at the station.", "Meet me at five p.m. at the station."),
    # English: dates and ordinals
    ("en-US", "My birthday is on November 27th.", "My birthday is on November twenty-seventh."),
    (
        "en-US",
        "The event is on 11/27/2026.",
        "The event is on November twenty-seventh, twenty twenty-six.",
    ),
    (
        "en-US",
        "The museum opened on 2026-11-27.",
        "The museum opened on November twenty-seventh, twenty twenty-six.",
    ),
    ("en-US", "He was born in 1987 in Ohio.", "He was born in nineteen eighty-seven in Ohio."),
    ("en-US", "My sister finished 3rd in the race.", "My sister finished third in the race."),
    ("en-US", "He won the 1st prize at the fair.", "He won the first prize at the fair."),
    # English: signs, units, decimal points, thousands, money
    ("en-US", "It will be -5 °C tonight.", "It will be minus five degrees Celsius tonight."),
    ("en-US", "It will be −3 °C with snow.", "It will be minus three degrees Celsius with snow."),
    (
        "en-US",
        "It is 72°F outside right now.",
        "It is seventy-two degrees Fahrenheit outside right now.",
    ),
    ("en-US", "The package weighs 2.5 kg.", "The package weighs two point five kilograms."),
    (
        "en-US",
        "About 1,000 people came to the show.",
        "About one thousand people came to the show.",
    ),
    (
        "en-US",
        "We drove 1,250 km last summer.",
        "We drove one thousand two hundred and fifty kilometers last summer.",
    ),
    (
        "en-US",
        "The speed limit is 120 km/h here.",
        "The speed limit is one hundred and twenty kilometers per hour here.",
    ),
    (
        "en-US",
        "The apartment has 80 m² of space.",
        "The apartment has eighty square meters of space.",
    ),
    ("en-US", "The chance of rain is 40% today.", "The chance of rain is forty percent today."),
    (
        "en-US",
        "The ticket costs $5.50 today.",
        "The ticket costs five dollars and fifty cents today.",
    ),
    (
        "en-US",
        "The company raised $1.5 million last year.",
        "The company raised one point five million dollars last year.",
    ),
    (
        "en-US",
        "The final score was 3:1 for Chelsea.",
        "The final score was three to one for Chelsea.",
    ),
    ("en-US", "The shop is open 9–5 on weekdays.", "The shop is open nine to five on weekdays."),
    # English: abbreviations
    (
        "en-US",
        "Bring some fruit, e.g. apples or pears.",
        "Bring some fruit, for example apples or pears.",
    ),
    (
        "en-US",
        "It is a fruit, i.e. a sweet plant part.",
        "It is a fruit, that is a sweet plant part.",
    ),
    (
        "en-US",
        "The trip takes approx. 20 minutes.",
        "The trip takes approximately twenty minutes.",
    ),
    ("en-US", "We sold apples, pears, etc.", "We sold apples, pears, et cetera."),
    ("en-US", "Dr. Smith will see you now.", "Doctor Smith will see you now."),
    (
        "en-US",
        "Mr. Jones and Mrs. Jones are waiting outside.",
        "Mister Jones and Missus Jones are waiting outside.",
    ),
    (
        "en-US",
        "Mr Brown and Dr Lee will come today.",
        "Mister Brown and Doctor Lee will come today.",
    ),
]

# Misread by the voices without verbalize, as Whisper heard them: "31.12.20027",
# "S3 Grad", "30 Grad Zeichen", "15 Grad", "12.0000", "die habe", "11-slash-27-slash-2026",
# "ADM 2", "a prox". (Others are misread too, "Heute ist der 27. Elfte", "3 colon 1", but
# by one word of a sentence long enough to stay within the word error rate allowed.)
MISREAD = [
    "Der Vertrag endet am 31.12.2027.",
    "Morgen sind es −3 °C und Schnee.",
    "Der Hang hat eine Neigung von 30°.",
    "Es werden 5–10 Grad erwartet.",
    "In der Halle sitzen 12.000 Menschen.",
    "Das ist teuer, d. h. wir warten.",
    "The event is on 11/27/2026.",
    "The apartment has 80 m² of space.",
    "The trip takes approx. 20 minutes.",
]

Hear = Callable[[str, str], str]


def spoken(transcript: str, language: str) -> str:
    """The words of a transcript, with Whisper's digits and symbols written out."""
    if language.startswith("en"):
        transcript = re.sub(
            r"\b(\d{1,2})[.:]?(\d{2})\s?([ap])\.?\s?m\b\.?", r"\1:\2 \3.m.", transcript, flags=re.I
        )
        transcript = re.sub(r"\b(at|from|until) (\d{1,2})\.?(\d{2})\b", r"\1 \2:\3", transcript)
    return verbalize(transcript, language)


@pytest.fixture(scope="module")
def hear() -> Iterator[Hear]:
    """Speak a text with the offline voice of its language and transcribe it; the
    Whisper model is loaded once for the module, each voice once."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel

    from shared.model_files import WHISPER_BASE, cache_dir, ensure
    from tts_worker.local import Engine, pick_engine

    settings = SttSettings()
    folder = (
        settings.stt_local_model
        if settings.stt_local_model
        else str(ensure(WHISPER_BASE, cache_dir(settings.model_dir)))
    )
    model = WhisperModel(
        folder, device="cpu", compute_type="int8", cpu_threads=settings.stt_threads
    )
    voices: dict[str, Engine] = {}

    def speak_and_hear(text: str, language: str) -> str:
        if language not in voices:
            voices[language] = pick_engine(TtsSettings(tts_language=language))
        speech = voices[language].speak(text).set_channels(1).set_sample_width(2)
        speech = speech.set_frame_rate(16000)
        samples = np.frombuffer(speech.raw_data, np.int16).astype(np.float32) / 32768
        segments, _ = model.transcribe(  # as stt_worker.whisper does
            samples,
            language=language.split("-")[0],
            beam_size=settings.stt_beam_size,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    yield speak_and_hear
    voices.clear()


def test_the_reference_is_what_verbalize_says() -> None:
    """The references are the intended words; verbalize must produce exactly them
    (up to case and punctuation), or the round trip would test something else."""
    for language, written, intended in CASES:
        assert word_error_rate(intended, verbalize(written, language)) == 0, written


@pytest.mark.parametrize(
    ("language", "written", "intended"), CASES, ids=[written for _, written, _ in CASES]
)
def test_verbalized_text_is_heard_as_meant(
    hear: Hear, language: str, written: str, intended: str
) -> None:
    said = verbalize(written, language)
    attempts = 2 if language.startswith("en") else 1  # Piper's voice is random
    results = []
    for _ in range(attempts):
        heard = hear(said, language)
        wer = word_error_rate(intended, spoken(heard, language))
        results.append((wer, heard))
        print(f"WER {wer:.2f}  {written!r} -> said {said!r} -> heard {heard!r}")
        if wer <= MAX_WER:
            break
    assert min(wer for wer, _ in results) <= MAX_WER, results


@pytest.mark.parametrize("written", MISREAD)
def test_without_verbalize_the_voice_misreads_it(hear: Hear, written: str) -> None:
    language, intended = next((lang, i) for lang, w, i in CASES if w == written)
    heard = hear(written, language)
    wer = word_error_rate(intended, spoken(heard, language))
    print(f"WER {wer:.2f} unverbalized  {written!r} -> heard {heard!r}")
    assert wer > MAX_WER, heard
