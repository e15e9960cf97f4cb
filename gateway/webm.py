"""Just enough of WebM (Matroska's EBML) to check a recording and measure it, in Python.

The gateway refuses a recording that is not WebM with an Opus stream, or is too long,
before it costs the pipeline anything. Demuxing it with PyAV for that took 2.4 ms per
1 s clip, a third of the gateway's CPU per spoken turn in `bench.pipeline`; walking the
EBML elements takes a fraction of that. The tests hold it to PyAV's measurements.

What is read: the EBML header's DocType, the Segment's TimecodeScale, the first audio
track (its number, CodecID, SamplingFrequency, CodecDelay, which libav subtracts from
every timestamp) and each Cluster's Timecode and its blocks of that track (with a
BlockGroup's BlockDuration, which the encoder gives the last, shortened packet).
Elements of unknown size (MediaRecorder writes the Segment and its Clusters so, as it
streams) end where an element that cannot be inside them begins, or at the end of the
data. A block's length comes from its Opus packet's TOC byte (RFC 6716, 3.1). A
recording cut short is read as far as it goes, as libav does: a block cut off is not
counted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

EBML = 0x1A45DFA3
DOC_TYPE = 0x4282
SEGMENT = 0x18538067
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_TYPE = 0x83
CODEC_ID = 0x86
AUDIO = 0xE1
SAMPLING_FREQUENCY = 0xB5
CLUSTER = 0x1F43B675
TIMECODE = 0xE7
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
BLOCK_DURATION = 0x9B
CODEC_DELAY = 0x56AA
AUDIO_TRACK = 2

# What may stand inside a Cluster of unknown size; anything else ends it.
IN_CLUSTER = frozenset({TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, 0xA7, 0xAB, 0xEC, 0xBF, 0x5854})
UNKNOWN = -1

# Opus frame lengths in 1/10 ms by TOC configuration (RFC 6716, table 2).
SILK = (100, 200, 400, 600)
HYBRID = (100, 200)
CELT = (25, 50, 100, 200)


class NotWebm(ValueError):
    """What is wrong with the recording, in a few words."""


@dataclass(frozen=True)
class Measured:
    codec: str
    """The first audio track's CodecID ("A_OPUS")."""
    sample_rate: int
    duration_s: float
    """Where the last block of that track ends."""
    blocks: int


class Element(NamedTuple):  # a tuple: made for every element, cheaper than a dataclass
    id: int
    start: int
    """Where its data begins."""
    end: int
    """Where its data ends (the data's end for an unknown size, until cut shorter)."""
    unknown_size: bool
    whole: bool = True
    """False when the data ends before the element does."""


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int, int]:
    """(value, position after it) of the variable-length integer at `at`; UNKNOWN for
    a size of all ones."""
    first = data[at]
    if first & 0x80:  # one byte: most sizes and the blocks' IDs
        if keep_marker:
            return first, at + 1
        return (UNKNOWN if first == 0xFF else first & 0x7F), at + 1
    if first == 0:
        raise NotWebm("invalid element")
    length = 9 - first.bit_length()
    if at + length > len(data):
        raise IndexError("cut short")
    rest = int.from_bytes(data[at + 1 : at + length], "big")
    value = ((first if keep_marker else first & (0xFF >> length)) << (8 * (length - 1))) | rest
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return UNKNOWN, at + length
    return value, at + length


def _header(data: bytes, at: int) -> tuple[int, int, int] | None:
    """(ID, size or UNKNOWN, where the data begins) of the element at `at`; None where
    the data ends before its header does."""
    try:
        ident, at = _vint(data, at, keep_marker=True)
        size, at = _vint(data, at, keep_marker=False)
    except IndexError:
        return None
    return ident, size, at


def _elements(data: bytes, start: int, end: int) -> Iterator[Element]:
    """The elements from `start` to `end`, not descending into them. One cut short
    ends at the data's end; reading stops where no whole header is left."""
    at = start
    while at < end:
        header = _header(data, at)
        if header is None:
            return
        ident, size, at = header
        if size == UNKNOWN:
            yield Element(ident, at, end, True)
        else:
            yield Element(ident, at, min(at + size, end), False, at + size <= end)
        at = min(at + size, end) if size != UNKNOWN else end


def _uint(data: bytes, element: Element) -> int:
    return int.from_bytes(data[element.start : element.end], "big")


def _float(data: bytes, element: Element) -> float:
    raw = data[element.start : element.end]
    if len(raw) == 4:
        return float(struct.unpack(">f", raw)[0])
    if len(raw) == 8:
        return float(struct.unpack(">d", raw)[0])
    return 0.0


def _opus_length(data: bytes, start: int, end: int) -> int:
    """The length in 1/10 ms of the Opus packet in data[start:end], from its TOC byte."""
    if start >= end:
        return 0
    toc = data[start]
    config = toc >> 3
    if config < 12:
        frame = SILK[config & 3]
    elif config < 16:
        frame = HYBRID[config & 1]
    else:
        frame = CELT[config & 3]
    code = toc & 3
    frames = (
        1 if code == 0 else 2 if code < 3 else (data[start + 1] & 0x3F if end > start + 1 else 0)
    )
    return frame * frames


def measure(data: bytes) -> Measured:
    """Codec, sample rate and length of a WebM recording's first audio track;
    `NotWebm` saying what is wrong."""
    try:
        return _measure(data)
    except (IndexError, OverflowError) as exc:
        raise NotWebm(f"undecodable WebM: {exc}") from exc


def _measure(data: bytes) -> Measured:
    top = list(_elements(data, 0, len(data)))
    if not top or top[0].id != EBML:
        raise NotWebm("not a WebM container")
    doc = next((e for e in _elements(data, top[0].start, top[0].end) if e.id == DOC_TYPE), None)
    if doc is None or data[doc.start : doc.end].rstrip(b"\0") != b"webm":
        raise NotWebm("not a WebM container")
    segment = next((e for e in top[1:] if e.id == SEGMENT), None)
    if segment is None:
        raise NotWebm("no segment")
    scale = 1_000_000  # ns per timecode unit, Matroska's default
    track: tuple[int, str, int, int] | None = None  # number, codec, sample rate, delay ns
    end = 0  # in ns
    blocks = 0
    for child in _level1(data, segment):
        if child.id == INFO:
            for field in _elements(data, child.start, child.end):
                if field.id == TIMECODE_SCALE:
                    scale = _uint(data, field) or scale
        elif child.id == TRACKS and track is None:
            track = _audio_track(data, child)
            if track is None:
                raise NotWebm("no audio stream")
            if track[1] != "A_OPUS":
                raise NotWebm(f"audio codec is {track[1] or None}, not opus")
        elif child.id == CLUSTER and track is not None:
            for at, length, lasts in _cluster_blocks(data, child, track[0]):
                blocks += 1
                ends = at * scale - track[3] + (lasts * scale if lasts >= 0 else length * 100_000)
                end = max(end, ends)
    if track is None:
        raise NotWebm("no audio stream")
    return Measured(track[1], track[2], end / 1e9, blocks)


def _level1(data: bytes, segment: Element) -> Iterator[Element]:
    """The Segment's children; a Cluster of unknown size ends at the next element
    that cannot be inside a Cluster."""
    at = segment.start
    while at < segment.end:
        found = next(_elements(data, at, segment.end), None)
        if found is None:
            return
        if found.id == CLUSTER and found.unknown_size:
            found = Element(
                CLUSTER, found.start, _cluster_end(data, found.start, segment.end), True
            )
        yield found
        if found.end <= at:
            return
        at = found.end


def _cluster_end(data: bytes, start: int, end: int) -> int:
    """Where a Cluster of unknown size that starts at `start` ends."""
    at = start
    while at < end:
        header = _header(data, at)
        if header is None:
            return end
        ident, size, inner = header
        if ident not in IN_CLUSTER:
            return at
        at = end if size == UNKNOWN else min(inner + size, end)
    return end


def _audio_track(data: bytes, tracks: Element) -> tuple[int, str, int, int] | None:
    for entry in _elements(data, tracks.start, tracks.end):
        if entry.id != TRACK_ENTRY:
            continue
        number, kind, codec, rate, delay = 0, 0, "", 0, 0
        for field in _elements(data, entry.start, entry.end):
            if field.id == TRACK_NUMBER:
                number = _uint(data, field)
            elif field.id == TRACK_TYPE:
                kind = _uint(data, field)
            elif field.id == CODEC_DELAY:
                delay = _uint(data, field)
            elif field.id == CODEC_ID:
                codec = data[field.start : field.end].rstrip(b"\0").decode("ascii", "replace")
            elif field.id == AUDIO:
                for audio in _elements(data, field.start, field.end):
                    if audio.id == SAMPLING_FREQUENCY:
                        rate = int(_float(data, audio))
        if kind == AUDIO_TRACK:
            return number, codec, rate if rate > 0 else 48000, delay
    return None


def _cluster_blocks(data: bytes, cluster: Element, track: int) -> Iterator[tuple[int, int, int]]:
    """(timecode, length in 1/10 ms from the packet, BlockDuration or -1) of each of
    the track's blocks in `cluster`. A loop of its own rather than `_elements`: a
    second of audio is 50 blocks, and this is most of the work."""
    base = 0
    at, end = cluster.start, cluster.end
    while at < end:
        header = _header(data, at)
        if header is None:
            return
        ident, size, start = header
        stop = end if size == UNKNOWN else start + size
        if stop > end:
            return  # cut off, and nothing whole after it
        if ident == TIMECODE:
            base = int.from_bytes(data[start:stop], "big")
        elif ident == SIMPLE_BLOCK:
            found = _block(data, start, stop, track)
            if found is not None:
                yield base + found[0], found[1], -1
        elif ident == BLOCK_GROUP:
            parts = {e.id: e for e in _elements(data, start, stop)}
            if BLOCK in parts:
                lasts = _uint(data, parts[BLOCK_DURATION]) if BLOCK_DURATION in parts else -1
                found = _block(data, parts[BLOCK].start, parts[BLOCK].end, track)
                if found is not None:
                    yield base + found[0], found[1], lasts
        at = stop


def _block(data: bytes, start: int, stop: int, track: int) -> tuple[int, int] | None:
    """(relative timecode, packet length in 1/10 ms) of a block of `track`, else None."""
    number, at = _vint(data, start, keep_marker=False)
    if number != track or at + 3 > stop:
        return None
    relative = int.from_bytes(data[at : at + 2], "big", signed=True)
    if data[at + 2] & 0x06:  # laced (MediaRecorder never laces): counted as one packet
        return relative, 0
    return relative, _opus_length(data, at + 3, stop)
