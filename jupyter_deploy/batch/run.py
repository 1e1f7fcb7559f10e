"""``jupyter-deploy predict``: a version's own predictor over a table, in this process, chunked and resumable.

The predictor is imported as the parity check imports it (``batchcheck.load_predictor_class``: the version's
own ``_jd_runtime/`` beside its ``predictor.py``), loaded with ``load()``, and called through ``infer`` (the
call the server makes) on chunks of ``--batch-size`` rows, each decoded by the version's request codec.

Resuming: predictions are checkpointed in a sidecar directory beside the output (``.OUTPUT.partial/``), one
Parquet file per completed range of rows plus ``manifest.json`` (the input's size and SHA-256, the version's
content hash, the batch size and columns). A killed run started again with the same arguments continues
after its last checkpoint; a changed input, version or batch size starts over. The output is written once,
at the end, to a temporary file renamed into place; then the sidecar goes.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import BatchError
from .io import check_paths, fingerprint, read_input, write_atomic

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


def sidecar_dir(output: Path) -> Path:
    """``.OUTPUT.partial/`` beside the output: the checkpoints of an unfinished run."""
    return output.parent / f".{output.name}.partial"


def predict_file(request: BatchRequest) -> dict[str, Any]:
    """Run the whole input through the version and write the output; returns a summary (``--json``)."""
    from ..versions import resolve

    started = time.perf_counter()
    if request.batch_size < 1:
        raise BatchError(f"--batch-size {request.batch_size}: give a positive number of rows")
    info, version_dir = resolve(request.root, request.spec)
    input_path, output_path = Path(request.input), Path(request.output)
    input_format, output_format = check_paths(input_path, output_path, request.overwrite)
    _require_tables()
    model_class = _predictor_class(version_dir, f"{info.name} {info.version}")
    tables = _tables_module()
    spec = model_class.input_spec
    frame = read_input(input_path, input_format, tables.text_columns(spec or {}))
    if spec is not None:  # columns checked before the (possibly slow) load
        _split(tables, frame, spec, request.keys)
    model = _load(model_class, f"{info.name} {info.version}")
    spec = model.spec or {"kind": "json"}
    features, keys = _split(tables, frame, spec, request.keys)
    manifest = {
        "input": fingerprint(input_path),
        "version": {"name": info.name, "version": info.version, "content_hash": info.content_hash},
        "batch_size": request.batch_size,
        "features": features,
        "keys": keys,
        "rows": len(frame),
    }
    checkpoints = Checkpoints(sidecar_dir(output_path), manifest)
    done, started_over = checkpoints.open()
    run = _Run(model, tables, frame, features, spec, request, checkpoints)
    predictions = run.predict_from(done)
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
    from ..batchcheck import load_predictor_class

    argv = sys.argv
    sys.argv = argv[:1]  # kserve parses sys.argv when imported: our own options are not its business
    try:
        return load_predictor_class(version_dir)
    except Exception as error:
        raise BatchError(f"cannot import the predictor of {label}: {type(error).__name__}: {error}") from None
    finally:
        sys.argv = argv


def _tables_module() -> Any:
    """The version's own ``_jd_runtime.tables`` (its codec decodes the rows); ours for older versions."""
    try:
        return importlib.import_module("_jd_runtime.tables")
    except ModuleNotFoundError:
        from ..runtime import tables

        return tables


def _load(model_class: Any, label: str) -> Any:
    model = model_class()
    try:
        model.load()
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

    def __init__(
        self, model: Any, tables: Any, frame: Any, features: list[str], spec: dict[str, Any], request: BatchRequest,
        checkpoints: Checkpoints,
    ) -> None:  # fmt: skip
        self.model, self.tables, self.frame, self.features, self.spec = model, tables, frame, features, spec
        self.request, self.checkpoints = request, checkpoints

    def predict_from(self, done: int) -> Any:
        """Predictions of every row: those checkpointed before ``done``, then the rest, computed now."""
        import pandas as pd
        from kserve.errors import InvalidInput

        rows, size = len(self.frame), self.request.batch_size
        pending: list[Any] = []
        pending_start = done
        last_checkpoint = time.monotonic()
        bar = _progress(rows, done, size, self.request.progress)
        start = done
        try:
            for start in range(done, rows, size):
                chunk = self.frame.iloc[start : start + size]
                try:
                    inputs = self.tables.model_input(chunk, self.features, self.spec, self.model.device)
                    outputs = self.model.infer(inputs)
                    pending.append(self.tables.prediction_frame(outputs, len(chunk)))
                except (self.tables.TableError, InvalidInput) as error:
                    raise BatchError(f"rows {start}-{start + len(chunk) - 1}: {error}") from None
                except Exception as error:  # the notebook's own code failed on these rows
                    raise BatchError(
                        f"predict failed on rows {start}-{start + len(chunk) - 1}: {type(error).__name__}: {error}"
                    ) from None
                bar.update(len(chunk))
                end = start + len(chunk)
                if end < rows and time.monotonic() - last_checkpoint >= self.request.checkpoint_seconds:
                    self.checkpoints.save(pending_start, end, pd.concat(pending, ignore_index=True))
                    pending, pending_start, last_checkpoint = [], end, time.monotonic()
        except BaseException:
            # what was computed before a failure or Ctrl-C is kept: the next run starts after it
            if pending:
                self.checkpoints.save(pending_start, pending_start + sum(map(len, pending)), pd.concat(pending))
            raise
        finally:
            bar.close()
        parts = [*self.checkpoints.load(), *pending]
        return pd.concat(parts, ignore_index=True)


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
    """``.OUTPUT.partial/``: ``manifest.json`` and ``rows-START-END.parquet`` per completed range."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.chunks: list[tuple[int, int, Path]] = []

    def open(self) -> tuple[int, bool]:
        """(rows already done, whether an earlier run's checkpoints were dropped because they do not match)."""
        started_over = False
        if self.directory.is_dir():
            if self._matches():
                self.chunks = self._contiguous()
                return (self.chunks[-1][1] if self.chunks else 0), False
            shutil.rmtree(self.directory)
            started_over = True
        self.directory.mkdir()
        _write_text(self.directory / MANIFEST, json.dumps(self.manifest, indent=2, sort_keys=True) + "\n")
        return 0, started_over

    def _matches(self) -> bool:
        try:
            recorded = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        same_input = {key: recorded.get("input", {}).get(key) for key in ("path", "size", "sha256")} == {
            key: self.manifest["input"][key] for key in ("path", "size", "sha256")
        }
        others = [key for key in self.manifest if key != "input"]
        return same_input and all(recorded.get(key) == self.manifest[key] for key in others)

    def _contiguous(self) -> list[tuple[int, int, Path]]:
        """The completed ranges from row 0 on, without gaps; anything else (a temporary file) is removed."""
        found = sorted(
            (int(match[1]), int(match[2]), path)
            for path in self.directory.iterdir()
            if (match := CHUNK_NAME.match(path.name))
        )
        kept: list[tuple[int, int, Path]] = []
        for start, end, path in found:
            if start == (kept[-1][1] if kept else 0) and end > start:
                kept.append((start, end, path))
        keep = {path for _, _, path in kept} | {self.directory / MANIFEST}
        for path in self.directory.iterdir():
            if path not in keep:
                path.unlink()
        return kept

    def save(self, start: int, end: int, predictions: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.directory / f"rows-{start:012d}-{end:012d}.parquet"
        temporary = path.with_name(f".{path.name}.tmp")
        pq.write_table(pa.Table.from_pandas(predictions, preserve_index=False), temporary)
        os.replace(temporary, path)
        self.chunks.append((start, end, path))

    def load(self) -> list[Any]:
        import pandas as pd

        return [pd.read_parquet(path) for _, _, path in self.chunks]

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
