"""Language detection of the offline recogniser on spoken questions.

    python -m bench.language_detection

German and English questions, spoken by the local voices (pico2wave, Piper) and
recorded as WebM/Opus like the watch sends them, transcribed by faster-whisper three
ways: with the language fixed (the baseline: no detection), with Whisper's open
detection over all its languages, and with detection restricted to STT_LANGUAGES
(de,en): plainly the likeliest of the two, and with the first language preferred
unless another is STT_DETECT_MARGIN times likelier, which is what STT_LANGUAGE=auto
does. Prints accuracy and latency per way.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from shared.settings import SttSettings
from stt_worker.whisper import LocalWhisper, decode
from tests.speech import spoken_webm

CLIPS = [
    ("de-DE", "Wie spät ist es?"),
    ("de-DE", "Wie wird das Wetter morgen?"),
    ("de-DE", "Was ist zwei plus drei?"),
    ("de-DE", "Wer hat den Faust geschrieben?"),
    ("de-DE", "In welchem Land liegt Rom?"),
    ("de-DE", "Stell einen Wecker auf sieben Uhr."),
    ("de-DE", "Danke."),
    ("de-DE", "Erzähl mir einen Witz."),
    ("en-US", "What time is it?"),
    ("en-US", "What is the capital of France?"),
    ("en-US", "How tall is the Eiffel Tower?"),
    ("en-US", "Who wrote Romeo and Juliet?"),
    ("en-US", "Set an alarm for seven."),
    ("en-US", "Thanks."),
    ("en-US", "Tell me a joke."),
    ("en-US", "Is it going to rain tomorrow?"),
]


def open_detection(whisper: LocalWhisper, samples: np.ndarray) -> str:
    """Whisper's own choice among all its languages."""
    _, info = whisper._model.transcribe(samples, beam_size=1, vad_filter=True)
    return str(info.language)


def main() -> None:
    whisper = LocalWhisper.from_settings(SttSettings(stt_language="auto", stt_languages="de,en"))
    clips = [(lang, text, decode(spoken_webm(text, lang))) for lang, text in CLIPS]
    results: dict[str, tuple[int, list[float]]] = {}

    def measure(name: str, run: object) -> None:
        right, times = 0, []
        for lang, _, samples in clips:
            started = time.perf_counter()
            heard = run(lang, samples)  # type: ignore[operator]
            times.append((time.perf_counter() - started) * 1000)
            right += heard == lang.split("-")[0]
        results[name] = (right, times)

    measure(
        "baseline: language fixed (no detection)",
        lambda lang, s: whisper._recognize(s, [lang]).language.split("-")[0],
    )
    measure("whisper's open detection (~100 languages)", lambda _, s: open_detection(whisper, s))
    both = ["de-DE", "en-US"]
    plain = LocalWhisper(whisper._model, SttSettings(stt_language="auto", stt_detect_margin=1.0))
    measure(
        "restricted to de,en, likeliest wins",
        lambda _, s: plain._recognize(s, both).language.split("-")[0],
    )
    measure(
        f"de,en, English only if {whisper._settings.stt_detect_margin:g}x likelier (auto)",
        lambda _, s: whisper._recognize(s, both).language.split("-")[0],
    )
    print(f"{len(clips)} spoken questions ({sum(c[0] == 'de-DE' for c in clips)} German)")
    print(f"{'way':<44} {'right':>7} {'p50 ms':>8} {'max ms':>8}")
    for name, (right, times) in results.items():
        print(
            f"{name:<44} {right:>3}/{len(clips):<3} {statistics.median(times):>8.0f} "
            f"{max(times):>8.0f}"
        )


if __name__ == "__main__":
    main()
