"""Offline speech recognition: faster-whisper (CTranslate2, int8) on the CPU.

The watch's WebM/Opus is decoded in memory by PyAV (through faster-whisper's
`decode_audio`), resampled to 16 kHz mono; Silero VAD, which ships inside
faster-whisper, skips silence. Nothing reaches a model hub: HF_HUB_OFFLINE is set and
the model is a local folder.

Whisper encodes a 30 s window whatever the clip's length (3000 mel frames, ~0.9 s of
the two cores here); STT_WINDOW_S gives the encoder a shorter one when the clip fits
(`WindowedWhisper`), measured by bench.whisper_window.
"""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from shared import language
from shared.contracts import AudioTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.model_files import WHISPER_BASE, cache_dir, ensure
from shared.retry import run_local
from shared.settings import SttSettings
from stt_worker.backend import Heard, candidates

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from faster_whisper import WhisperModel, decode_audio

log = get_logger(__name__)

SAMPLE_RATE = 16000
WHISPER_WINDOW_S = 30
"""Whisper's own window, the one it was trained on: what clips longer than STT_WINDOW_S get."""


class WindowedWhisper(WhisperModel):  # type: ignore[misc]  # faster-whisper is untyped
    """A WhisperModel whose encoder sees the window faster-whisper itself works in.

    `transcribe(chunk_length=N)` sets the feature extractor's window to N seconds: it
    cuts the audio into N s pieces (and VAD's speech chunks), but then pads each
    piece's features back to 3000 frames (30 s) before the encoder, whose cost grows
    with its input. Here the encoder gets the piece at the window's length instead;
    CTranslate2's Whisper encoder accepts fewer frames. With chunk_length 30 (or none)
    nothing changes.
    """

    def transcribe(
        self, audio: Any, *args: Any, chunk_length: int | None = None, **options: Any
    ) -> Any:
        # faster-whisper keeps a call's chunk_length in the shared feature extractor;
        # a call that names none gets Whisper's own window, not the last call's.
        return super().transcribe(
            audio, *args, chunk_length=chunk_length or WHISPER_WINDOW_S, **options
        )

    def encode(self, features: np.ndarray) -> Any:
        frames = int(self.feature_extractor.nb_max_frames)
        if features.shape[-1] > frames:
            features = features[..., :frames]
        return super().encode(features)


def window_for(seconds: float, window_s: int) -> int:
    """The encoder window for a clip of `seconds`: STT_WINDOW_S when the clip fits in
    it, Whisper's 30 s otherwise, so a long question is transcribed as a whole the way
    Whisper was trained (and one over 30 s in 30 s pieces) rather than cut into short
    windows whose seams split words."""
    return window_s if seconds <= window_s else WHISPER_WINDOW_S


def decode(audio: bytes) -> np.ndarray:
    """WebM/Opus (or any container PyAV reads) to 16 kHz mono float32."""
    try:
        return np.asarray(decode_audio(io.BytesIO(audio), sampling_rate=SAMPLE_RATE), np.float32)
    except Exception as exc:  # PyAV raises many kinds; all mean the same to the watch
        raise PipelineError(
            ErrorCode.UNSUPPORTED_AUDIO, ErrorCategory.PERMANENT, f"decode failed: {exc}"
        ) from exc


def choose(codes: list[str], probabilities: dict[str, float], margin: float) -> str:
    """The deployment's first language, unless another of `codes` is `margin` times
    likelier. Whisper base is sure about English (p > 0.6 where it is) but hesitant
    about short German questions, which it often puts below English or Japanese."""
    first = codes[0]
    best = max(codes, key=lambda code: probabilities.get(code, 0.0))
    if best != first and probabilities.get(best, 0.0) > margin * probabilities.get(first, 0.0):
        return best
    return first


class LocalWhisper:
    name = "local"
    max_concurrency: int | None = 1

    def __init__(self, model: WhisperModel, settings: SttSettings) -> None:
        self._model = model
        self._settings = settings
        # One recognition at a time: both cores go to it, and a second would only
        # make both slower.
        self._busy = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: SttSettings) -> LocalWhisper:
        folder = (
            Path(settings.stt_local_model)
            if settings.stt_local_model
            else ensure(WHISPER_BASE, cache_dir(settings.model_dir))
        )
        model = WindowedWhisper(
            str(folder), device="cpu", compute_type="int8", cpu_threads=settings.stt_threads
        )
        backend = cls(model, settings)
        backend.warm_up()
        return backend

    def warm_up(self) -> None:
        """Run once on a tone, so the first watch does not pay for lazy initialisation."""
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        self._recognize(0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32), ["de-DE"])

    def _recognize(self, samples: np.ndarray, tags: list[str]) -> Heard:
        """Transcribe in `tags[0]`, or, given several, in the one of them Whisper finds
        likeliest. Whisper's own choice is open to its ~100 languages and hears short
        German questions as English or Japanese, so its probabilities are read and
        restricted to ours (see `choose`); only when its favourite is not the chosen
        language is the audio transcribed again."""

        window = window_for(len(samples) / SAMPLE_RATE, self._settings.stt_window_s)

        def run(code: str | None) -> Any:  # (segments, info): faster-whisper is untyped
            return self._model.transcribe(
                samples,
                language=code,
                beam_size=self._settings.stt_beam_size,
                vad_filter=True,
                condition_on_previous_text=False,
                chunk_length=window,
            )

        codes = [language.base(tag) for tag in tags]
        segments, info = run(codes[0] if len(codes) == 1 else None)
        chosen = codes[0]
        if len(codes) > 1:
            probabilities = dict(info.all_language_probs or [])
            chosen = choose(codes, probabilities, self._settings.stt_detect_margin)
            log.info(
                "language detected",
                language=chosen,
                whisper=info.language,
                p={code: round(probabilities.get(code, 0.0), 3) for code in codes},
            )
            if info.language != chosen:
                segments, _ = run(chosen)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Heard(text, tags[codes.index(chosen)])

    async def transcribe(self, turn: AudioTurn) -> Heard:
        samples = await asyncio.to_thread(decode, turn.audio)
        if turn.expired():
            raise PipelineError(ErrorCode.TIMEOUT, ErrorCategory.TRANSIENT, "deadline before STT")
        return await run_local(
            self._recognize,
            samples,
            candidates(self._settings, turn),
            lock=self._busy,
            deadline=turn.deadline,
            what="local recognition",
        )

    async def close(self) -> None:
        return None
