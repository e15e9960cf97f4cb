"""A recogniser that does no work (STT_BACKEND=null): every recording says TRANSCRIPT.

Only for `bench.pipeline`, which measures what the pipeline itself costs per turn.
"""

from __future__ import annotations

from shared.contracts import AudioTurn
from stt_worker.backend import Heard

TRANSCRIPT = "Erzähl mir etwas."
"""What every recording is heard as (not a clock question: the llm stage's null model
answers it, so the bench measures the model path, not the local intents)."""


class NullSpeech:
    name = "null"
    max_concurrency: int | None = None

    async def transcribe(self, turn: AudioTurn) -> Heard:
        return Heard(TRANSCRIPT, turn.language or "de-DE")

    async def close(self) -> None:
        return None
