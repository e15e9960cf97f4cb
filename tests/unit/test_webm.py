"""The gateway's own WebM reading, held to what PyAV (libav's demuxer) measures."""

from __future__ import annotations

import io
import re

import av
import pytest

from gateway.webm import NotWebm, measure
from tests.fakes.audio import matroska_mp3, wav, webm_opus
from tests.fuzz import clip


def libav(data: bytes) -> tuple[str, int, float, int] | None:
    """(codec, sample rate, end of the last packet in s, packets) as PyAV demuxes it;
    None where libav cannot read it."""
    try:
        with av.open(io.BytesIO(data), "r", format="matroska", metadata_errors="ignore") as c:
            if not c.streams.audio or c.streams.audio[0].codec_context is None:
                return None
            stream = c.streams.audio[0]
            end, packets = 0.0, 0
            for packet in c.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                packets += 1
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            codec = stream.codec_context.name
            return codec, stream.codec_context.sample_rate, end, packets
    except av.error.FFmpegError:
        return None


@pytest.mark.parametrize("seconds", [0.1, 0.5, 1.0, 3.0, 12.5])
def test_a_recording_is_measured_as_libav_does(seconds: float) -> None:
    data = webm_opus("Hallo", seconds=seconds)
    ours, theirs = measure(data), libav(data)
    assert theirs is not None
    assert ours.codec == "A_OPUS" and theirs[0] == "opus"
    assert ours.sample_rate == theirs[1] == 48000
    assert ours.duration_s == pytest.approx(theirs[2], abs=0.001)
    assert ours.blocks == theirs[3]
    assert ours.duration_s == pytest.approx(seconds, abs=0.021)


def unknown_sizes(data: bytes) -> bytes:
    """The recording with its Clusters of unknown size, as MediaRecorder writes them."""
    cluster = re.escape(b"\x1f\x43\xb6\x75")
    changed = re.sub(cluster + b"[\x40-\x7f].", b"\x1f\x43\xb6\x75\x7f\xff", data, flags=re.S)
    assert changed != data
    return changed


@pytest.mark.parametrize("live", [False, True], ids=["sized", "unknown sizes"])
def test_every_cut_of_a_recording_is_measured_as_libav_does(live: bool) -> None:
    whole = unknown_sizes(webm_opus("Hallo", seconds=2.0)) if live else clip()
    if live:
        assert measure(whole).blocks == libav(whole)[3] > 1  # type: ignore[index]
    for n in range(0, len(whole) + 1, 7):
        theirs = libav(whole[:n])
        try:
            ours = measure(whole[:n])
        except NotWebm:
            assert theirs is None or theirs[3] == 0, n
            continue
        if theirs is None:
            assert ours.blocks == 0, n  # libav gives up on a header cut short
            continue
        assert ours.blocks == theirs[3], n
        assert ours.duration_s == pytest.approx(theirs[2], abs=0.001), n


@pytest.mark.parametrize("make", [wav, matroska_mp3])
def test_other_formats_and_codecs_are_named(make: object) -> None:
    with pytest.raises(NotWebm):
        measure(make())  # type: ignore[operator]


def test_an_unknown_codec_is_named() -> None:
    with pytest.raises(NotWebm, match="A_OPUX"):
        measure(clip().replace(b"A_OPUS", b"A_OPUX"))
