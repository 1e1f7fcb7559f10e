"""Input and output files of ``jupyter-deploy predict``: CSV, Parquet or JSON Lines, chosen by suffix.

The formats themselves are the runtime's (``runtime/tables.py``, also used by the in-cluster batch job);
this module adds what a local run needs: one clear error per bad file, the input's fingerprint for
resuming, and an atomic write of the output (a temporary file beside it, then a rename).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..exceptions import BatchError
from ..files import atomic_path
from ..runtime.tables import FORMATS, read_frame, table_format, write_frame

HASH_BLOCK = 1 << 20


def file_format(path: Path, what: str) -> str:
    fmt = table_format(path.name)
    if fmt is None:
        suffixes = ", ".join(sorted(FORMATS))
        raise BatchError(f"{what} {path}: unknown format {path.suffix or '(no suffix)'!r}: use {suffixes}", str(path))
    return fmt


def check_paths(input_path: Path, output_path: Path, overwrite: bool) -> tuple[str, str]:
    """The formats of both files; refuses a missing input and an existing output (unless ``overwrite``)."""
    input_format = file_format(input_path, "input")
    output_format = file_format(output_path, "output")
    if not input_path.is_file():
        raise BatchError(f"input {input_path} does not exist or is not a file", str(input_path))
    if output_path.resolve() == input_path.resolve():
        raise BatchError(f"output {output_path} is the input file: write the predictions elsewhere", str(output_path))
    if output_path.is_dir():
        raise BatchError(f"output {output_path} is a directory: give a file name such as predictions.parquet")
    if output_path.exists() and not overwrite:
        raise BatchError(f"output {output_path} exists: pass --overwrite to replace it", str(output_path))
    if not output_path.parent.is_dir():
        raise BatchError(f"output directory {output_path.parent} does not exist", str(output_path))
    return input_format, output_format


def read_input(path: Path, fmt: str, text_columns: list[str]) -> Any:
    """The whole input as a DataFrame; an unreadable or empty file is a ``BatchError``."""
    try:
        frame = read_frame(path, fmt, text_columns)
    except (ValueError, OSError, UnicodeDecodeError) as error:  # pandas' and pyarrow's parse errors
        reason = " ".join(str(error).split()) or type(error).__name__
        raise BatchError(f"cannot read {path} as {fmt.upper()}: {reason[:300]}", str(path)) from None
    except Exception as error:  # pyarrow.ArrowInvalid and friends (ArrowInvalid is a ValueError; others are not)
        if type(error).__module__.startswith(("pyarrow", "pandas")):
            raise BatchError(f"cannot read {path} as {fmt.upper()}: {' '.join(str(error).split())[:300]}") from None
        raise
    if len(frame) == 0:
        raise BatchError(f"{path} has no rows", str(path))
    return frame


def fingerprint(path: Path) -> dict[str, Any]:
    """Size, modification time and SHA-256 of a file: a resumed run must read the same input."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
    stat = path.stat()
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": digest.hexdigest(),
    }


def write_atomic(frame: Any, path: Path, fmt: str) -> None:
    """Write ``frame`` to a temporary file beside ``path`` and rename it into place (never half a file)."""
    with atomic_path(path) as temporary, temporary.open("wb") as stream:
        write_frame(frame, stream, fmt)
