"""Encoding recordings the way the watch does: Opus in live WebM, 48 kHz mono.

Used by the `uhrwerk ask --audio` command line (which accepts WAV and anything else
PyAV reads) and by the tests that speak to the pipeline.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

OPUS_RATE = 48000
FRAME = 960  # 20 ms, MediaRecorder's Opus frame


def to_webm_opus(samples: np.ndarray, title: str | None = None) -> bytes:
    """Mono int16 samples at 48 kHz to live WebM/Opus (no duration in the header,
    as MediaRecorder streams it)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm", options={"live": "1"}) as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream("libopus", rate=OPUS_RATE, layout="mono")
        for start in range(0, len(samples), FRAME):
            chunk = np.ascontiguousarray(samples[start : start + FRAME], dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = OPUS_RATE
            frame.pts = start
            frame.time_base = Fraction(1, OPUS_RATE)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def read_mono_48k(data: bytes) -> np.ndarray:
    """Any audio PyAV can read (WAV, WebM, MP3, ...) as mono int16 at 48 kHz."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
    pieces: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        pieces.append(out.to_ndarray().reshape(-1))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)


EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def looks_like_webm(data: bytes) -> bool:
    """An EBML file whose header (which names its DocType in the first few dozen bytes)
    says WebM; the codec inside is not checked here."""
    return data.startswith(EBML_MAGIC) and b"webm" in data[:64]


def ensure_webm_opus(data: bytes) -> bytes:
    """The recording as WebM/Opus: passed through if it is one, converted otherwise."""
    if looks_like_webm(data):
        return data
    return to_webm_opus(read_mono_48k(data))
