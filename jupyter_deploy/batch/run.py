"""``jupyter-deploy predict``: a version's own predictor over a table, in this process, chunked and resumable.

The predictor is imported as the parity check imports it (``versions.predictor_class``: the version's
own ``_jd_runtime/`` beside its ``predictor.py``), loaded with ``load()``, and called through ``infer`` (the
call the server makes) on chunks of ``--batch-size`` rows, each decoded by the version's request codec.

Resuming: predictions are checkpointed in a sidecar directory beside the output (``.OUTPUT.partial/``), one
Parquet file per completed range of rows plus ``manifest.json`` (the input's size and SHA-256, the version's
content hash, the batch size and columns). A killed run started again with the same arguments continues
after its last checkpoint; a changed input, version or batch size starts over, and a checkpoint that cannot
be read back is predicted again (with a note). The output is written once, at the end, to a temporary file
renamed into place; then the sidecar goes. One run at a time holds an output (``lock.OutputLock``), taken
before the model loads: a second run, or an output where nothing can be written, is one line before any row
is predicted.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import files
from ..exceptions import BatchError
from .io import check_paths, fingerprint, read_input, write_atomic
from .lock import OutputLock

MANIFEST = "manifest.json"
CHECKPOINT_SECONDS = 2.0  # how much work a kill can lose, at most (a checkpoint costs about a millisecond)
CHUNK_NAME = re.compile(r"^rows-(\d{12})-(\d{12})\.parquet$")
DEFAULT_BATCH_SIZE = 1024


@dataclass
class BatchRequest:
    root: Path
    spec: str  # NAME or NAME@vN
    input: Path
    output: Path
    batch_size: int = DEFAULT_BATCH_SIZE
    keys: list[str] | None = None
    overwrite: bool = False
    progress: bool = True
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    notify: Callable[[str], None] | None = None  # told what a run does that its user did not ask for


def sidecar_dir(output: Path) -> Path:
    """``.OUTPUT.partial/`` beside the output: the checkpoints of an unfinished run."""
    return output.parent / f".{output.name}.partial"


def predict_file(request: BatchRequest) -> dict[str, Any]:
    """Run the whole input through the version and write the output; returns a summary (``--json``)."""
    from ..versions.store import check_intact, resolve

    started = time.perf_counter()
    if request.batch_size < 1:
        raise BatchError(f"--batch-size {request.batch_size}: give a positive number of rows")
    info, version_dir = resolve(request.root, request.spec)
    check_intact(version_dir)  # before anything of the version is imported or read (a run's cost: one read)
    input_path, output_path = Path(request.input), Path(request.output)
    input_format, output_format = check_paths(input_path, output_path, request.overwrite)
    _require_tables()
    with OutputLock(output_path):  # also the proof, before the model loads, that the output can be written
        return _predict_locked(
            request, info, version_dir, (input_path, input_format), (output_path, output_format), started
        )


def _predict_locked(
    request: BatchRequest,
    info: Any,
    version_dir: Path,
    source: tuple[Path, str],
    target: tuple[Path, str],
    started: float,
) -> dict[str, Any]:
    """The run, once the output is this process's (``OutputLock``)."""
    (input_path, input_format), (output_path, output_format) = source, target
    model_class = _predictor_class(version_dir, f"{info.name} {info.version}")
    tables = _tables_module()
    spec = model_class.input_spec
    input_stat = input_path.stat()
    reading = time.perf_counter()
    frame = read_input(input_path, input_format, tables.text_columns(spec or {}))
    read_seconds = time.perf_counter() - reading
    if spec is not None:  # columns checked before the (possibly slow) load
        _split(tables, frame, spec, request.keys)
    model = _load(model_class, f"{info.name} {info.version}")
    spec = model.spec or {"kind": "json"}
    features, keys = _split(tables, frame, spec, request.keys)
    manifest = {
        "version": {"name": info.name, "version": info.version, "content_hash": info.content_hash},
        "batch_size": request.batch_size,
        "features": features,
        "keys": keys,
        "rows": len(frame),
    }
    checkpoints = Checkpoints(sidecar_dir(output_path), manifest, input_path, input_stat, request.notify)
    done, started_over = checkpoints.open()
    computing = time.perf_counter()
    predictions = _Run(model, tables, frame, (features, spec)).predict_from(done, request, checkpoints)
    output = tables.output_frame(tables.key_frame(frame, keys), predictions)
    write_atomic(output, output_path, output_format)
    checkpoints.remove()
    return {
        "name": info.name,
        "version": info.version,
        "input": str(input_path),
        "output": str(output_path),
        "rows": len(frame),
        "resumed_rows": done,
        "computed_rows": len(frame) - done,
        "started_over": started_over,
        "batch_size": request.batch_size,
        "columns": [str(name) for name in output.columns],
        "seconds": round(time.perf_counter() - started, 3),
        # the run without starting Python and loading the model: reading, predicting, writing
        "predict_seconds": round(read_seconds + time.perf_counter() - computing, 3),
    }


def _require_tables() -> None:
    for module in ("pandas", "pyarrow"):
        try:
            importlib.import_module(module)
        except ImportError:
            from .. import DISTRIBUTION

            raise BatchError(
                f"batch prediction needs pandas and pyarrow: pip install '{DISTRIBUTION}[batch]'"
            ) from None


def _predictor_class(version_dir: Path, label: str) -> Any:
    from ..versions.predictor_class import load_predictor_class

    argv = sys.argv
    sys.argv = argv[:1]  # kserve parses sys.argv when imported: our own options are not its business
    try:
        return load_predictor_class(version_dir)
    except Exception as error:
        raise BatchError(f"cannot import the predictor of {label}: {type(error).__name__}: {error}") from None
    finally:
        sys.argv = argv


TABLES_API = ("split_columns", "model_inputs", "prediction_part", "predictions_frame", "output_frame", "key_frame")


def _tables_module() -> Any:
    """The version's own ``_jd_runtime.tables`` (its codec decodes the rows), or ours for a version whose
    runtime predates it (``tables`` then decodes with our copy of the codec)."""
    try:
        module = importlib.import_module("_jd_runtime.tables")
    except ModuleNotFoundError:
        module = None
    if module is None or not all(hasattr(module, name) for name in TABLES_API):
        from ..runtime import tables

        return tables
    return module


def _load(model_class: Any, label: str) -> Any:
    from ..runtime.loaders.refusal import refusal_reason

    model = model_class()
    try:
        model.load()
    except SystemExit as stop:  # a loader's refusal (ArtifactRefused), from the version's own runtime
        raise BatchError(f"{label} cannot load: {refusal_reason(stop)}") from None
    except Exception as error:
        raise BatchError(f"the predictor of {label} failed to load: {type(error).__name__}: {error}") from None
    return model


def _split(tables: Any, frame: Any, spec: dict[str, Any], keys: list[str] | None) -> tuple[list[str], list[str]]:
    try:
        features, found = tables.split_columns(list(frame.columns), spec, keys)
    except tables.TableError as error:
        raise BatchError(f"input: {error}") from None
    return list(features), list(found)


class _Run:
    """The prediction loop: chunks of rows through ``model.infer``, checkpointed as they complete."""

    def __init__(self, model: Any, tables: Any, frame: Any, columns: tuple[list[str], dict[str, Any]]) -> None:
        self.model, self.tables, self.frame = model, tables, frame
        self.features, self.spec = columns

    def predict_from(self, done: int, request: BatchRequest, checkpoints: Checkpoints) -> Any:
        """Predictions of every row: those checkpointed before ``done``, then the rest, computed now."""
        from kserve.errors import InvalidInput

        tables, rows, size = self.tables, len(self.frame), request.batch_size
        pending: list[Any] = []
        pending_start = end = done
        last_checkpoint = time.monotonic()
        bar = _progress(rows, done, size, request.progress)
        chunks = tables.model_inputs(self.frame, self.features, self.spec, size, done, self.model.device)
        try:
            while end < rows:
                start = end
                end = min(rows, start + size)
                try:
                    _, count, inputs = next(chunks)
                    pending.append(tables.prediction_part(self.model.infer(inputs), count))
                except (tables.TableError, InvalidInput) as error:
                    raise BatchError(f"rows {start}-{end - 1}: {error}") from None
                except Exception as error:  # the notebook's own code failed on these rows
                    raise BatchError(
                        f"predict failed on rows {start}-{end - 1}: {type(error).__name__}: {error}"
                    ) from None
                bar.update(count)
                if end < rows and time.monotonic() - last_checkpoint >= request.checkpoint_seconds:
                    checkpoints.save(pending_start, end, tables.predictions_frame(pending))
                    pending, pending_start, last_checkpoint = [], end, time.monotonic()
        except BaseException:
            # what was computed before a failure or Ctrl-C is kept: the next run starts after it
            if pending and end > pending_start:
                completed = pending_start + sum(len(part) for part in pending)
                checkpoints.save(pending_start, completed, tables.predictions_frame(pending))
            raise
        finally:
            bar.close()
        parts = checkpoints.load()
        if pending:
            parts.append(tables.predictions_frame(pending))
        import pandas as pd

        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _progress(rows: int, done: int, size: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=rows,
        initial=done,
        unit="rows",
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled or rows - done <= 4 * size,  # only long inputs get a bar
        mininterval=0.5,
        leave=False,
    )


class Checkpoints:
    """``.OUTPUT.partial/``: ``manifest.json`` and ``rows-START-END.parquet`` per completed range.

    The directory (and the input's SHA-256 in its manifest) is made at the first checkpoint: a run that
    finishes sooner than ``CHECKPOINT_SECONDS`` never hashes its input nor writes anything but its output.
    Resumed ranges are read back when the run opens them: a damaged one (a write cut short, a disk error) is
    dropped with the ranges after it, said in one note, and predicted again."""

    def __init__(
        self,
        directory: Path,
        manifest: dict[str, Any],
        input_path: Path,
        input_stat: os.stat_result,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.input_path = input_path
        self.input_stat = input_stat
        self.notify = notify or (lambda _message: None)
        self.chunks: list[tuple[int, int, Path]] = []
        self.resumed: dict[Path, Any] = {}  # the frames of the ranges read back at open

    def _fingerprint(self) -> dict[str, Any]:
        found = fingerprint(self.input_path)
        if (found["size"], found["mtime_ns"]) != (self.input_stat.st_size, self.input_stat.st_mtime_ns):
            raise BatchError(f"{self.input_path} changed while it was being predicted: run again")
        return found

    def open(self) -> tuple[int, bool]:
        """(rows already done, whether an earlier run's checkpoints were dropped because they do not match)."""
        if not self.directory.is_dir():
            return 0, False
        if self._matches():
            self.chunks = self._contiguous()
            return (self.chunks[-1][1] if self.chunks else 0), False
        shutil.rmtree(self.directory)
        return 0, True

    def _matches(self) -> bool:
        try:
            recorded = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(recorded, dict) or any(recorded.get(key) != value for key, value in self.manifest.items()):
            return False
        self.manifest["input"] = self._fingerprint()
        found = recorded.get("input")
        return isinstance(found, dict) and all(
            found.get(key) == self.manifest["input"][key] for key in ("path", "size", "sha256")
        )

    def _contiguous(self) -> list[tuple[int, int, Path]]:
        """The readable completed ranges from row 0 on, without gaps; anything else (a temporary file, a damaged
        range and those after it) is removed."""
        found = sorted(
            (int(match[1]), int(match[2]), path)
            for path in self.directory.iterdir()
            if (match := CHUNK_NAME.match(path.name))
        )
        kept: list[tuple[int, int, Path]] = []
        for start, end, path in found:
            if start != (kept[-1][1] if kept else 0) or end <= start:
                continue
            frame, problem = _read_range(path, end - start)
            if problem:
                self.notify(
                    f"checkpoint {path.name} in {self.directory.name}/ is damaged ({problem}): rows {start} on are "
                    "predicted again"
                )
                break
            kept.append((start, end, path))
            self.resumed[path] = frame
        keep = {path for _, _, path in kept} | {self.directory / MANIFEST}
        for path in self.directory.iterdir():
            if path not in keep:
                path.unlink()
        return kept

    def save(self, start: int, end: int, predictions: Any) -> None:
        from ..runtime.tables import write_parquet

        if not self.directory.is_dir():
            self.manifest.setdefault("input", self._fingerprint())
            self.directory.mkdir()
            files.write_atomic(self.directory / MANIFEST, json.dumps(self.manifest, indent=2, sort_keys=True) + "\n")
        path = self.directory / f"rows-{start:012d}-{end:012d}.parquet"
        with files.atomic_path(path) as temporary:
            write_parquet(predictions, temporary)
        self.chunks.append((start, end, path))

    def load(self) -> list[Any]:
        frames = []
        for start, end, path in self.chunks:
            frame = self.resumed.get(path)
            if frame is None:
                frame, problem = _read_range(path, end - start)
                if problem:
                    raise BatchError(f"checkpoint {path} became unreadable ({problem}): run the same command again")
            frames.append(frame)
        return frames

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _read_range(path: Path, rows: int) -> tuple[Any, str | None]:
    """(the predictions of a checkpointed range, None), or (None, what is wrong with the file)."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow's errors for a truncated or overwritten file are of several types
        return None, " ".join(str(error).split())[:120] or type(error).__name__
    if len(frame) != rows:
        return None, f"{len(frame)} rows instead of {rows}"
    return frame, None
