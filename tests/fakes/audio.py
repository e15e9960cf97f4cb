"""Audio fixtures: WebM/Opus clips like MediaRecorder's, MP3 like Google's, and checks.

A clip's words are written into its WebM `title` tag: the fake Speech server reads
them back, which also proves the gateway passed the recording on byte for byte.
"""

from __future__ import annotations

import io
import math

import av
import lameenc
import numpy as np

from shared.audio import to_webm_opus

RATE = 48000


def tone(
    seconds: float, freq: float = 440.0, rate: int = RATE, amplitude: float = 0.3
) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * math.pi * freq * t) * 32767).astype(np.int16)


def webm_opus(words: str | None = "Hallo Uhr", seconds: float = 1.0, silent: bool = False) -> bytes:
    """A tone (or silence) in live WebM/Opus as MediaRecorder writes it, carrying
    `words` in its title tag for the fake Speech server."""
    samples = np.zeros(int(seconds * RATE), dtype=np.int16) if silent else tone(seconds)
    return to_webm_opus(samples, title=words)


def webm_words(data: bytes) -> str:
    """The words a `webm_opus` clip carries ("" for none or unreadable)."""
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="replace") as container:
            return str(container.metadata.get("title", container.metadata.get("TITLE", "")))
    except av.error.FFmpegError:
        return ""


def wav(seconds: float = 0.5) -> bytes:
    """A WAV recording: audio, but not what the watch protocol takes."""
    return _encode("wav", "pcm_s16le", seconds)


def matroska_mp3(seconds: float = 0.5) -> bytes:
    """A Matroska (not WebM) container holding MP3 instead of Opus."""
    return _encode("matroska", "libmp3lame", seconds)


def _encode(fmt: str, codec: str, seconds: float, options: dict[str, str] | None = None) -> bytes:
    samples = tone(seconds)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono", options=options or {})
        assert isinstance(stream, av.AudioStream) and stream.codec_context.codec.audio_formats
        fmt_name = stream.codec_context.codec.audio_formats[0].name
        data = samples.reshape(1, -1)
        if fmt_name.startswith("flt"):
            data = data.astype(np.float32) / 32767
        elif fmt_name.startswith("s32"):
            data = data.astype(np.int32) << 16
        frame = av.AudioFrame.from_ndarray(data, format=fmt_name, layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def mp3(seconds: float, rate: int = 24000) -> bytes:
    """A real MP3 of a tone, `seconds` long."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(tone(seconds, rate=rate).tobytes()) + encoder.flush())


def mp3_duration(data: bytes) -> float:
    """Decode an MP3 completely and return its length in seconds; raises if it is not one."""
    with av.open(io.BytesIO(data), mode="r", format="mp3") as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        rate = stream.codec_context.sample_rate
    if samples == 0:
        raise ValueError("no MP3 audio frames")
    return samples / rate
