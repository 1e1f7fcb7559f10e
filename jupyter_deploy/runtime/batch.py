"""``python -m _jd_runtime.batch``: one shard of a batch prediction, in a version's own image (no jupyter-deploy).

A Kubernetes Indexed Job (``jupyter-deploy manifests NAME --batch-job``) runs this in K pods; pod INDEX
(``$JOB_COMPLETION_INDEX``) predicts shard INDEX of ``--input`` and writes ``--output``/part-INDEX.parquet:
- ``--input`` a directory (or prefix) of CSV / Parquet / JSON Lines files: shard INDEX takes files INDEX,
  INDEX+K, ... (give at least K files for K busy pods);
- ``--input`` one file: shard INDEX takes rows [INDEX*N/K, (INDEX+1)*N/K).
Paths are local (a mounted volume) or anything ``pyarrow.fs`` opens (``s3://``, ``gs://``, ``hdfs://``), with
credentials from the pod's environment. Each part holds the key columns (or ``row``, the row's position in
its file, and ``file``) beside the predictions; it is written to a temporary name and then renamed.
Needs pandas and pyarrow in the image (``export --requirement pandas --requirement pyarrow``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from .predictor_module import load_predictor_class
from .tables import (
    ROW_COLUMN,
    TableError,
    key_frame,
    model_inputs,
    output_frame,
    prediction_part,
    predictions_frame,
    read_frame,
    split_columns,
    table_format,
    text_columns,
    write_parquet,
)

INDEX_VARIABLE = "JOB_COMPLETION_INDEX"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m _jd_runtime.batch", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a file, or a directory of files (CSV, Parquet, JSON Lines)")
    parser.add_argument("--output", required=True, help="directory for part-INDEX.parquet")
    parser.add_argument("--shards", type=int, default=1, help="number of shards (the Job's completions)")
    parser.add_argument("--index", type=int, help=f"this shard (default: ${INDEX_VARIABLE})")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per predict call")
    parser.add_argument("--key", action="append", help="key column written beside the predictions (repeat)")
    return parser


def shard_index(given: int | None, shards: int) -> int:
    if given is None:
        text = os.environ.get(INDEX_VARIABLE)
        if text is None:
            if shards == 1:
                return 0
            raise SystemExit(
                f"batch: ${INDEX_VARIABLE} is not set: run as a Job with completionMode: Indexed (Kubernetes 1.24 "
                "or later; an older API server drops the field) or pass --index"
            )
        given = int(text)
    if not 0 <= given < shards:
        raise SystemExit(f"batch: shard index {given} is outside 0..{shards - 1}")
    return given


def load_model(version_dir: Path) -> Any:
    """The version's predictor (``predictor.py`` beside this package), loaded as the server loads it."""
    model = load_predictor_class(version_dir)()
    model.load()
    return model


def _filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" in uri:
        return fs.FileSystem.from_uri(uri)
    return fs.LocalFileSystem(), str(Path(uri).resolve())


def shard_sources(uri: str, shards: int, index: int) -> tuple[Any, list[tuple[str, int, int | None]]]:
    """(filesystem, [(path, first row, end row or None for all), ...]) of this shard."""
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise SystemExit(f"batch: {uri} does not exist")
    if info.type == fs.FileType.Directory:
        listing = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
        files = sorted(item.path for item in listing if item.is_file and table_format(item.path))
        if not files:
            raise SystemExit(f"batch: {uri} holds no .csv, .parquet or .jsonl files")
        return filesystem, [(file, 0, None) for file in files[index::shards]]
    return filesystem, [(path, -1, None)]  # rows cut once the file's length is known


def run_shard(model: Any, args: argparse.Namespace, index: int) -> dict[str, Any]:
    import pandas as pd

    filesystem, sources = shard_sources(args.input, args.shards, index)
    spec = model.spec or {}
    outputs = []
    rows = 0
    for path, first, _ in sources:
        fmt = table_format(path)
        if fmt is None:
            raise SystemExit(f"batch: {path}: not a .csv, .parquet or .jsonl file")
        with filesystem.open_input_file(path) as stream:
            frame = read_frame(stream, fmt, text_columns(spec))
        start = 0
        if first < 0:  # one file shared by every shard: this shard's rows
            start, end = len(frame) * index // args.shards, len(frame) * (index + 1) // args.shards
            frame = frame.iloc[start:end]
        features, keys = split_columns(list(frame.columns), spec, args.key)
        keyed = key_frame(frame, keys, start)
        if first >= 0 and not keys:  # rows of several files: their positions need the file's name
            keyed.insert(0, "file", Path(path).name)
        parts = [
            prediction_part(model.infer(inputs), count)
            for _, count, inputs in model_inputs(frame, features, spec, args.batch_size, device=model.device)
        ]
        if parts:
            outputs.append(output_frame(keyed, predictions_frame(parts)))
        rows += len(frame)
    result = pd.concat(outputs, ignore_index=True) if outputs else pd.DataFrame({ROW_COLUMN: []})
    _write_part(result, args.output, index)
    return {"shard": index, "shards": args.shards, "rows": rows, "files": len(sources)}


def _write_part(frame: Any, output: str, index: int) -> None:
    filesystem, directory = _filesystem(output)
    filesystem.create_dir(directory, recursive=True)
    target = f"{directory.rstrip('/')}/part-{index:05d}.parquet"
    temporary = f"{directory.rstrip('/')}/.part-{index:05d}.parquet.tmp"
    with filesystem.open_output_stream(temporary) as stream:
        write_parquet(frame, stream)
    filesystem.move(temporary, target)


def main(argv: list[str] | None = None) -> int:
    import json

    args = build_parser().parse_args(argv)
    if args.shards < 1 or args.batch_size < 1:
        raise SystemExit("batch: --shards and --batch-size must be positive")
    index = shard_index(args.index, args.shards)
    started = time.perf_counter()
    model = load_model(Path(__file__).resolve().parent.parent)
    from kserve.errors import InvalidInput

    try:
        summary = run_shard(model, args, index)
    except (TableError, InvalidInput) as error:
        raise SystemExit(f"batch: {error}") from None
    summary["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
