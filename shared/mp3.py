"""Joining independently encoded MP3 files (one per sentence) into one valid MP3.

`join` keeps the ID3v2 tag of the first chunk only, drops ID3v1 and APEv2 tags at the
end of every chunk, and drops the Xing/Info/VBRI header frame of every chunk (its frame
count and length would describe one chunk, not the whole); the MPEG audio frames are
walked header by header, so anything that is not MPEG layer III audio raises ValueError.
`duration_s` is the length of an MP3 from its frame count.

Dropping the LAME Info frame also drops its encoder delay and padding: a decoder plays
the few dozen milliseconds of priming silence of each chunk instead of trimming them,
which between sentences is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["duration_s", "join"]

# Layer III bitrates in kbit/s by bitrate index (0 is "free format", 15 is invalid).
_BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Sample rates by version bits (0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1).
_SAMPLE_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}
_VERSION_NAMES = {0: "MPEG 2.5", 2: "MPEG 2", 3: "MPEG 1"}


@dataclass(frozen=True)
class _Frame:
    version: int  # the header's version bits: 3 MPEG 1, 2 MPEG 2, 0 MPEG 2.5
    sample_rate: int
    length: int  # bytes, header included
    samples: int
    vbr_offset: int  # where a Xing/Info tag would start, from the frame's start


@dataclass(frozen=True)
class _Parsed:
    id3v2: bytes  # the tags before the audio
    start: int  # first audio frame (after a Xing/Info/VBRI frame)
    end: int  # end of the last complete audio frame
    frames: list[_Frame]  # the audio frames, without the Xing/Info/VBRI frame


def join(chunks: list[bytes]) -> bytes:
    """One MP3 from several, in order: the ID3v2 tag of the first (if any), then the
    audio frames of all. Raises ValueError if a chunk is not MP3, if the chunks differ
    in sample rate or MPEG version, or if there are none."""
    if not chunks:
        raise ValueError("no MP3 chunks to join")
    out = bytearray()
    first: _Frame | None = None
    for index, chunk in enumerate(chunks):
        parsed = _parse(chunk, f"MP3 chunk {index}")
        if first is None:
            first = parsed.frames[0]
            out += parsed.id3v2
        frame = parsed.frames[0]
        if (frame.version, frame.sample_rate) != (first.version, first.sample_rate):
            raise ValueError(
                f"MP3 chunk {index} is {_VERSION_NAMES[frame.version]} at {frame.sample_rate} Hz"
                f", chunk 0 {_VERSION_NAMES[first.version]} at {first.sample_rate} Hz:"
                " they cannot be joined"
            )
        out += chunk[parsed.start : parsed.end]
    return bytes(out)


def duration_s(data: bytes) -> float:
    """The length of an MP3 in seconds: its audio frames times their samples (the
    Xing/Info frame does not count; encoder delay and padding are included)."""
    frames = _parse(data, "MP3").frames  # one sample rate throughout
    return sum(frame.samples for frame in frames) / frames[0].sample_rate


def _parse(data: bytes, name: str) -> _Parsed:
    if not data:
        raise ValueError(f"{name} is empty")
    pos = 0
    while data.startswith(b"ID3", pos):
        pos += _id3v2_size(data, pos, name)
    id3v2 = data[:pos]
    end = _audio_end(data, pos)
    frames: list[_Frame] = []
    start = pos
    while pos < end:
        frame = _frame(data, pos)
        if frame is None:
            if not frames:
                raise ValueError(
                    f"{name} is not an MP3 file: no MPEG layer III frame at byte {pos}"
                )
            if not data[pos:end].strip(b"\0"):
                break  # zero padding after the last frame
            raise ValueError(f"{name} is damaged: no MPEG audio frame at byte {pos}")
        if frames and (frame.version, frame.sample_rate) != (
            frames[0].version,
            frames[0].sample_rate,
        ):
            raise ValueError(f"{name} is damaged: the stream changes sample rate at byte {pos}")
        if pos + frame.length > end:
            break  # a truncated last frame is dropped
        if not frames and _is_vbr_frame(data, pos, frame):
            start = pos + frame.length
        else:
            frames.append(frame)
        pos += frame.length
    if not frames:
        raise ValueError(f"{name} holds no MPEG audio frame")
    return _Parsed(id3v2=id3v2, start=start, end=pos, frames=frames)


def _id3v2_size(data: bytes, pos: int, name: str) -> int:
    """The size of the ID3v2 tag at pos: 10 header bytes, the syncsafe size, and a
    10-byte footer if its flag is set."""
    header = data[pos : pos + 10]
    if (
        len(header) < 10
        or header[3] == 0xFF
        or header[4] == 0xFF
        or any(b >= 0x80 for b in header[6:])
    ):
        raise ValueError(f"{name} has a damaged ID3v2 tag at byte {pos}")
    size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
    total = 10 + size + (10 if header[5] & 0x10 else 0)
    if pos + total > len(data):
        raise ValueError(f"{name} has an ID3v2 tag longer than the file")
    return total


def _audio_end(data: bytes, start: int) -> int:
    """The end of `data` without the ID3v1 and APEv2 tags at its end."""
    end = len(data)
    while True:
        if end - start >= 128 and data[end - 128 : end - 125] == b"TAG":
            end -= 128
        elif end - start >= 32 and data[end - 32 : end - 24] == b"APETAGEX":
            size = int.from_bytes(data[end - 20 : end - 16], "little")
            flags = int.from_bytes(data[end - 12 : end - 8], "little")
            total = size + (32 if flags & 0x80000000 else 0)
            if not 32 <= total <= end - start:
                return end
            end -= total
        else:
            return end


def _frame(data: bytes, pos: int) -> _Frame | None:
    """The MPEG layer III frame header at pos, or None if there is none."""
    if pos + 4 > len(data):
        return None
    b0, b1, b2, b3 = data[pos : pos + 4]
    version = (b1 >> 3) & 3
    layer = (b1 >> 1) & 3
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 3
    if b0 != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or layer != 1:
        return None
    if bitrate_index in (0, 15) or rate_index == 3 or b3 & 3 == 2:
        return None  # free format, bad bitrate, reserved rate or emphasis
    mpeg1 = version == 3
    bitrate = (_BITRATES_V1 if mpeg1 else _BITRATES_V2)[bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    mono = b3 >> 6 == 3
    crc = 0 if b1 & 1 else 2
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    return _Frame(
        version=version,
        sample_rate=sample_rate,
        length=(144 if mpeg1 else 72) * bitrate // sample_rate + padding,
        samples=1152 if mpeg1 else 576,
        vbr_offset=4 + crc + side_info,
    )


def _is_vbr_frame(data: bytes, pos: int, frame: _Frame) -> bool:
    """A Xing/Info (LAME) or VBRI (Fraunhofer) header frame rather than audio."""
    tag = data[pos + frame.vbr_offset : pos + frame.vbr_offset + 4]
    return tag in (b"Xing", b"Info") or data[pos + 36 : pos + 40] == b"VBRI"
