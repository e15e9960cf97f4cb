"""A synthesiser that does no work (TTS_BACKEND=null): the same tiny MP3 for every text.
Only for `bench.pipeline`, which measures what the pipeline itself costs."""

from __future__ import annotations

import lameenc


def _silence_mp3() -> bytes:
    """0.1 s of silence as MP3 frames, encoded once at import (a few milliseconds)."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(24000)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(bytes(2 * 2400)) + encoder.flush())


SILENCE_MP3 = _silence_mp3()


class NullTextToSpeech:
    name = "null"
    max_concurrency: int | None = None

    async def synthesize(self, text: str, language: str, deadline: float) -> bytes:
        return SILENCE_MP3

    async def close(self) -> None:
        return None
