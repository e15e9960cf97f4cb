"""Offline speech recognition: faster-whisper (CTranslate2, int8) on the CPU.

The watch's WebM/Opus is decoded in memory by PyAV (through faster-whisper's
`decode_audio`), resampled to 16 kHz mono; Silero VAD, which ships inside
faster-whisper, skips silence. Nothing reaches a model hub: HF_HUB_OFFLINE is set and
the model is a local folder.
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
        model = WhisperModel(
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

        def run(code: str | None) -> Any:  # (segments, info): faster-whisper is untyped
            return self._model.transcribe(
                samples,
                language=code,
                beam_size=self._settings.stt_beam_size,
                vad_filter=True,
                condition_on_previous_text=False,
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
