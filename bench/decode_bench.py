"""Decoding the watch's WebM/Opus to 16 kHz mono for the recogniser: PyAV vs pydub.

    python -m bench.decode_bench [--clips 50]

PyAV decodes in process with its bundled libav; pydub starts an ffmpeg process per
clip (and needs ffmpeg installed). The baseline in the same run is demuxing the clip
with PyAV without decoding it, which is what the gateway's validation cost until it
read the EBML itself (`gateway.webm`, the next row).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import time
import warnings
from collections.abc import Callable

import av

from gateway.audio import probe_webm_opus
from stt_worker.whisper import decode
from tests.speech import spoken_webm

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment


def pydub_decode(clip: bytes) -> bytes:
    segment = AudioSegment.from_file(io.BytesIO(clip), format="webm")
    return bytes(segment.set_frame_rate(16000).set_channels(1).raw_data)


def timed(fn: Callable[[bytes], object], clip: bytes, clips: int) -> list[float]:
    fn(clip)
    samples = []
    for _ in range(clips):
        started = time.perf_counter()
        fn(clip)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def demux(clip: bytes) -> None:
    with av.open(io.BytesIO(clip), "r", format="matroska", metadata_errors="ignore") as container:
        for _ in container.demux(container.streams.audio[0]):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=50)
    args = parser.parse_args()
    clip = spoken_webm("Wie wird das Wetter morgen in Berlin und in München?", "de-DE")
    rows = [
        ("baseline: PyAV demux only (gateway before)", timed(demux, clip, args.clips)),
        ("gateway check (gateway.webm)", timed(lambda c: probe_webm_opus(c, 60), clip, args.clips)),
        ("PyAV decode + resample (used)", timed(decode, clip, args.clips)),
    ]
    if shutil.which("ffmpeg"):
        rows.append(("pydub + ffmpeg process", timed(pydub_decode, clip, args.clips)))
    print(
        f"decoding a {len(clip)} byte WebM/Opus question, {args.clips} runs, PyAV {av.__version__}"
    )
    print(f"{'method':<44} {'p50 ms':>8} {'p95 ms':>8}")
    for name, samples in rows:
        p95 = sorted(samples)[int(0.95 * (len(samples) - 1))]
        print(f"{name:<44} {statistics.median(samples):>8.2f} {p95:>8.2f}")
    if not shutil.which("ffmpeg"):
        print("pydub + ffmpeg: not measured, ffmpeg is not installed")


if __name__ == "__main__":
    main()
