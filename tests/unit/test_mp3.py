"""Joining per-sentence MP3s into one file for protocol-1 watches, and MP3 durations."""

from __future__ import annotations

import io
import random

import av
import lameenc
import numpy as np
import pytest

from shared.mp3 import duration_s, join
from tests.fakes.audio import mp3, mp3_duration, tone, wav, webm_opus


def lame(seconds: float, rate: int = 24000, kbps: int = 32, channels: int = 1) -> bytes:
    """An MP3 from lameenc (no tags, no Info frame), as the offline voice makes them.
    LAME picks the output sample rate: 32 kbit/s at 24 kHz comes out at 22.05 kHz."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(channels)
    encoder.set_quality(7)
    samples = tone(seconds, rate=rate)
    if channels == 2:
        samples = np.repeat(samples, 2)
    return bytes(encoder.encode(samples.tobytes()) + encoder.flush())


def ffmpeg_mp3(
    seconds: float, rate: int = 24000, layout: str = "mono", kbps: int | None = None
) -> bytes:
    """An MP3 file as FFmpeg writes it: an ID3v2 tag, a LAME Info frame, the audio. Unlike
    lameenc, FFmpeg keeps the sample rate it is given."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        if kbps:
            stream.codec_context.bit_rate = kbps * 1000
        samples = tone(seconds, rate=rate).reshape(1, -1)
        channels = 2 if layout == "stereo" else 1
        data = np.repeat(samples, channels, axis=1)  # packed s16
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def id3v2(title: str = "Antwort", padding: int = 300) -> bytes:
    """An ID3v2.3 tag with a title frame; longer than 127 bytes, so its syncsafe size
    uses two bytes."""
    text = b"\x00" + title.encode("latin-1")
    frame = b"TIT2" + len(text).to_bytes(4, "big") + b"\x00\x00" + text
    size = len(frame) + padding
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frame + b"\x00" * padding


def id3v1(title: str = "Antwort") -> bytes:
    return b"TAG" + title.encode("latin-1").ljust(30, b"\x00") + b"\x00" * 95


def apev2() -> bytes:
    item = b"\x05\x00\x00\x00\x00\x00\x00\x00Title\x00Hallo"
    size = len(item) + 32
    footer = b"APETAGEX" + (2000).to_bytes(4, "little") + size.to_bytes(4, "little")
    footer += (1).to_bytes(4, "little") + (0).to_bytes(4, "little") + b"\x00" * 8
    return item + footer


FRAME_S = 576 / 22050  # one frame of `lame()`: MPEG 2 layer III at 22.05 kHz


def assert_clean(joined: bytes, tagged_first: bool) -> None:
    """No Xing/Info tag anywhere, no ID3 tag but (perhaps) the first chunk's at the
    start, no ID3v1 tag at the end."""
    assert joined.count(b"Xing") == 0
    assert joined.count(b"Info") == 0
    assert joined.find(b"ID3", 1) == -1
    assert joined.startswith(b"ID3") == tagged_first
    assert joined[-128:-125] != b"TAG"


def test_join_lameenc_chunks_with_tags() -> None:
    plain = [lame(0.5), lame(1.0), lame(0.3), mp3(0.7)]  # mp3(): the fake Google voice's
    chunks = [plain[0], id3v2() + plain[1] + id3v1(), plain[2] + apev2(), plain[3]]
    joined = join(chunks)
    assert joined == b"".join(plain)
    assert_clean(joined, tagged_first=False)
    expected = sum(mp3_duration(c) for c in plain)
    assert mp3_duration(joined) == pytest.approx(expected, abs=2 * FRAME_S * len(chunks))
    assert duration_s(joined) == pytest.approx(sum(duration_s(c) for c in chunks), abs=1e-9)
    assert mp3_duration(joined) == pytest.approx(duration_s(joined), abs=1e-9)


def test_join_keeps_only_the_first_chunks_id3v2_tag() -> None:
    tag = id3v2("Erster")
    chunks = [tag + lame(0.4), id3v2("Zweiter") + lame(0.4), id3v2("Dritter") + lame(0.4)]
    joined = join(chunks)
    assert joined.startswith(tag)
    assert_clean(joined, tagged_first=True)
    assert b"Zweiter" not in joined and b"Dritter" not in joined
    assert mp3_duration(joined) == pytest.approx(3 * mp3_duration(lame(0.4)), abs=1e-9)


@pytest.mark.parametrize(("rate", "layout"), [(24000, "mono"), (44100, "stereo"), (16000, "mono")])
def test_join_drops_the_info_frames_of_ffmpeg_files(rate: int, layout: str) -> None:
    chunks = [ffmpeg_mp3(0.6, rate, layout), ffmpeg_mp3(1.1, rate, layout)]
    chunks.append(ffmpeg_mp3(0.25, rate, layout))
    assert all(c.startswith(b"ID3") and b"Info" in c for c in chunks)
    joined = join(chunks)
    assert joined.startswith(chunks[0][:10])
    assert_clean(joined, tagged_first=True)
    frame_s = (1152 if rate > 24000 else 576) / rate
    # Without the Info frames the decoder no longer trims each chunk's encoder delay
    # (1105 samples) and end padding (under a frame): at most three frames per chunk.
    decoded = mp3_duration(joined)
    expected = sum(mp3_duration(c) for c in chunks)
    assert expected <= decoded <= expected + 3 * frame_s * len(chunks)
    assert decoded == pytest.approx(duration_s(joined), abs=1e-9)
    assert duration_s(joined) == pytest.approx(sum(duration_s(c) for c in chunks), abs=1e-9)


@pytest.mark.parametrize("tag", [b"Xing", b"Info", b"VBRI"])
def test_vbr_header_frames_are_dropped(tag: bytes) -> None:
    audio = lame(0.5)
    header = bytearray(audio[: 72 * 32000 // 22050])  # a copy of the first frame (no padding)
    assert header[2] >> 1 & 1 == 0
    offset = 36 if tag == b"VBRI" else 4 + 9  # MPEG 2 mono: 9 bytes of side info
    header[offset : offset + 4] = tag
    header[offset + 4 :] = bytes(len(header) - offset - 4)
    chunks = [bytes(header) + audio, bytes(header) + lame(0.3)]
    joined = join(chunks)
    assert joined.count(tag) == 0
    assert joined == audio + lame(0.3)
    assert duration_s(bytes(header) + audio) == duration_s(audio)


@pytest.mark.parametrize(
    ("rate", "kbps"),
    [
        (8000, 8),  # MPEG 2.5
        (11025, 24),
        (12000, 64),
        (16000, 32),  # MPEG 2
        (22050, 40),  # padding alternates
        (24000, 160),
        (32000, 32),  # MPEG 1
        (44100, 128),  # padding alternates
        (48000, 320),
    ],
)
def test_duration_matches_the_decoder(rate: int, kbps: int) -> None:
    for layout in ("mono", "stereo"):
        data = ffmpeg_mp3(0.8, rate, layout, kbps)
        with av.open(io.BytesIO(data), format="mp3") as container:
            assert container.streams.audio[0].codec_context.sample_rate == rate
        # The decoder trims the delay the Info frame names; without it, it plays all.
        alone = join([data])
        assert b"Info" in data and b"Info" not in alone
        assert duration_s(data) == pytest.approx(mp3_duration(alone), abs=1e-9)
        assert duration_s(alone) == duration_s(data)
        joined = join([data, data, data])
        assert mp3_duration(joined) == pytest.approx(3 * duration_s(data), abs=1e-9)
    data = lame(0.8, rate, kbps)  # LAME may resample; the count still matches
    assert duration_s(data) == pytest.approx(mp3_duration(data), abs=1e-9)


def test_join_of_one_chunk_and_trailing_bytes() -> None:
    audio = lame(1.0)
    assert join([audio]) == audio
    assert join([audio + b"\x00" * 50]) == audio  # zero padding after the last frame
    truncated = join([audio[:-50]])  # the cut-off last frame is dropped
    assert audio.startswith(truncated) and len(truncated) < len(audio) - 50
    assert mp3_duration(truncated) == pytest.approx(duration_s(audio) - FRAME_S, abs=1e-9)


def random_bytes(size: int) -> bytes:
    return random.Random(7).randbytes(size)


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (b"", "empty"),
        (b"hello world" * 100, "not an MP3 file"),
        (random_bytes(5000), "not an MP3 file"),
        (b"\xff\xfb\xf0\x00" + random_bytes(3000), "not an MP3 file"),  # bitrate index 15
        (b"\xff\xfd\x90\x00" + random_bytes(3000), "not an MP3 file"),  # layer II
        (wav(), "not an MP3 file"),
        (webm_opus(), "not an MP3 file"),
        (b"ID3\x03", "damaged ID3v2 tag"),
        (b"ID3\x03\x00\x00\x00\x00\x08\x00" + b"\x00" * 50, "ID3v2 tag longer than the file"),
        (id3v2(), "holds no MPEG audio frame"),
        (id3v2() + b"RIFF" + random_bytes(2000), "not an MP3 file"),
        (lame(0.5)[:1000] + b"garbage" * 30 + lame(0.5), "damaged"),
    ],
    ids=[
        "empty",
        "text",
        "random",
        "bad-bitrate",
        "layer-2",
        "wav",
        "webm",
        "short-id3",
        "long-id3",
        "only-id3",
        "id3-then-riff",
        "garbage-inside",
    ],
)
def test_not_mp3_raises(chunk: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        join([lame(0.3), chunk])
    with pytest.raises(ValueError, match=message):
        duration_s(chunk)


def test_chunk_index_in_the_message() -> None:
    with pytest.raises(ValueError, match="MP3 chunk 2 is not an MP3 file"):
        join([lame(0.3), lame(0.3), b"nope" * 100])


def test_different_sample_rates_are_not_joined() -> None:
    with pytest.raises(ValueError, match="chunk 1 is MPEG 1 at 48000 Hz, chunk 0 MPEG 2 at 22050"):
        join([lame(0.3), lame(0.3, 48000, 128)])
    with pytest.raises(ValueError, match="chunk 2 is MPEG 2 at 22050 Hz, chunk 0 MPEG 2 at 24000"):
        join([ffmpeg_mp3(0.3, 24000), ffmpeg_mp3(0.3, 24000), ffmpeg_mp3(0.3, 22050)])


def test_nothing_to_join() -> None:
    with pytest.raises(ValueError, match="no MP3 chunks"):
        join([])
