"""Real speech for the offline tests: spoken by the local TTS engines, recorded the
way the watch records (WebM/Opus), and scored by word error rate."""

from __future__ import annotations

import functools
import io
import re
import wave

from pydub import AudioSegment

from shared.audio import read_mono_48k, to_webm_opus
from shared.settings import TtsSettings
from tts_worker.local import Piper, pick_engine


@functools.cache
def steady_piper() -> Piper:
    return Piper(steady=True)


def spoken_webm(text: str, language: str) -> bytes:
    """`text` spoken by the local engine for `language`, as MediaRecorder would send it."""
    engine = pick_engine(TtsSettings(tts_language=language))
    if isinstance(engine, Piper):
        engine = steady_piper()  # the same question, the same recording, every run
    return as_watch_sends(engine.speak(text))


def as_watch_sends(speech: AudioSegment) -> bytes:
    """A synthesised clip as MediaRecorder's WebM/Opus (48 kHz mono, as a watch sends it)."""
    speech = speech.set_channels(1).set_sample_width(2)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.frame_rate)
        out.writeframes(speech.raw_data)
    return to_webm_opus(read_mono_48k(buf.getvalue()))


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(1, len(ref))
