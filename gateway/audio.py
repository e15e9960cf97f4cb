"""Checking that a recording is what the watch should send: WebM with an Opus stream.

PyAV (libav* bundled in its wheel) demuxes the clip without decoding it: a few
milliseconds, and it copes with MediaRecorder's live WebM, which has no duration in
its header, by adding up packet durations.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av

from shared.audio import looks_like_webm
from shared.errors import ErrorCategory, ErrorCode, PipelineError


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    """Sample rate of the Opus stream (MediaRecorder uses 48000)."""
    duration_s: float
    """Length of the recording, from the packets' timestamps."""


def probe_webm_opus(data: bytes, max_seconds: float) -> AudioInfo:
    """Validate a WebM/Opus clip and measure it; `PipelineError` saying what is wrong."""
    if not looks_like_webm(data):
        raise _unsupported("not a WebM container")
    try:
        # Tags are never read here; a title that is not UTF-8 must not fail the probe
        # (PyAV decodes the tags when it opens the file, strictly by default).
        with av.open(
            io.BytesIO(data), mode="r", format="matroska", metadata_errors="ignore"
        ) as container:
            streams = container.streams.audio
            if not streams:
                raise _unsupported("no audio stream")
            codec = streams[0].codec_context  # None for a codec id libav does not know
            if codec is None or codec.name != "opus":
                raise _unsupported(f"audio codec is {codec and codec.name}, not opus")
            stream = streams[0]
            sample_rate = codec.sample_rate or 48000
            end = 0.0
            packets = 0
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                packets += 1
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                if end > max_seconds:
                    raise PipelineError(
                        ErrorCode.AUDIO_TOO_LONG,
                        ErrorCategory.PERMANENT,
                        f"longer than {max_seconds} s",
                    )
    except av.error.FFmpegError as exc:
        raise _unsupported(f"undecodable WebM: {exc}") from exc
    if packets == 0:
        raise _unsupported("no audio packets")
    return AudioInfo(sample_rate=sample_rate, duration_s=end)


def _unsupported(detail: str) -> PipelineError:
    return PipelineError(ErrorCode.UNSUPPORTED_AUDIO, ErrorCategory.PERMANENT, detail)
