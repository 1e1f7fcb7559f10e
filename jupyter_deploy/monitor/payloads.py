"""Payload logs on this side: the serve options that turn them on, and reading them back for ``monitor``.

The files are the ones ``runtime/payload_log.py`` writes (``*.jsonl``: one request a line; ``*.parquet``: one
input row a row). A JSON Lines file may end in a line still being written: it is left out, never an error.
``*.parquet.part`` files are still open and are skipped. Anything else that cannot be read, or records of
another deployment, stops with one line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import MonitorError
from ..runtime.payload_log import format_problem

SUFFIXES = (".jsonl", ".parquet")


def log_options(
    directory: str | Path | None,
    log_format: str = "jsonl",
    rotate_mb: float | None = None,
    rotate_seconds: float | None = None,
    queue_size: int | None = None,
) -> dict[str, Any] | None:
    """``serve --log-payloads DIR``'s settings, checked here so a bad directory is one line, not a dead server."""
    if directory is None:
        return None
    problem = format_problem(log_format)
    if problem:
        raise MonitorError(problem)
    path = Path(directory).resolve()
    if path.exists() and not path.is_dir():
        raise MonitorError(f"--log-payloads {directory}: this is a file; give a directory for the payload logs")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MonitorError(f"--log-payloads {directory}: cannot create the directory ({error.strerror})") from None
    for value, flag in (
        (rotate_mb, "--log-rotate-mb"), (rotate_seconds, "--log-rotate-seconds"), (queue_size, "--log-queue-size")
    ):  # fmt: skip
        if value is not None and value <= 0:
            raise MonitorError(f"{flag} must be positive, not {value}")
    return {"log_payloads": str(path), "log_format": log_format, "log_rotate_mb": rotate_mb,
            "log_rotate_seconds": rotate_seconds, "log_queue_size": queue_size}  # fmt: skip


def predictor_arguments(options: dict[str, Any] | None) -> list[str]:
    """The predictor's command-line flags for ``options`` (``runtime.listen.add_payload_log_arguments``)."""
    arguments: list[str] = []
    for key, value in (options or {}).items():
        if value is not None:
            arguments += [f"--{key}", str(value)]
    return arguments


@dataclass
class Payloads:
    """What the logs hold for one deployment: input and output columns (values per row), and where from."""

    inputs: dict[str, list[Any]] = field(default_factory=dict)
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    requests: int = 0
    rows: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    first: str | None = None
    last: str | None = None


def read_payloads(directory: str | Path, deployment: str) -> Payloads:
    """Every logged request of ``deployment`` under ``directory`` (its files, in name order)."""
    path = Path(directory)
    if not path.is_dir():
        raise MonitorError(
            f"no payload directory {directory}: serve with --log-payloads {directory} to log requests there"
        )
    files = sorted(item for item in path.iterdir() if item.is_file() and item.suffix in SUFFIXES)
    if not files:
        raise MonitorError(
            f"no payload files (*.jsonl, *.parquet) in {directory}: serve {deployment} with "
            f"--log-payloads {directory} and send it requests first"
        )
    payloads = Payloads()
    for file in files:
        records = _read_jsonl(file) if file.suffix == ".jsonl" else _read_parquet(file)
        for record in records:
            _add(payloads, record, deployment, file)
        payloads.files.append(file.name)
    if payloads.rows == 0:
        raise MonitorError(f"the payload files in {directory} hold no requests yet: send {deployment} requests first")
    return payloads


def _add(payloads: Payloads, record: dict[str, Any], deployment: str, file: Path) -> None:
    found = record.get("deployment")
    if found != deployment:
        raise MonitorError(
            f"{file.name} holds payloads of deployment {found!r}, not {deployment!r}: give a directory with "
            f"{deployment}'s logs only (each deployment logs to its own --log-payloads directory)"
        )
    inputs, outputs = record.get("inputs") or [], record.get("outputs") or []
    _append_rows(payloads.inputs, record.get("input_columns") or [], inputs, payloads.rows, file)
    if len(outputs) == len(inputs):  # a predict whose answer is not one row per input row is left out
        _append_rows(payloads.outputs, record.get("output_columns") or [], outputs, payloads.rows, file)
    payloads.rows += len(inputs)
    payloads.requests += 1
    version = str(record.get("version"))
    payloads.versions[version] = payloads.versions.get(version, 0) + 1
    stamp = record.get("timestamp")
    if isinstance(stamp, str):
        payloads.first = min(payloads.first or stamp, stamp)
        payloads.last = max(payloads.last or stamp, stamp)


def _append_rows(columns: dict[str, list[Any]], names: list[str], rows: list[Any], before: int, file: Path) -> None:
    """Rows into the named columns; a column absent so far is padded with None for the earlier rows."""
    if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == len(names) for row in rows):
        raise MonitorError(f"{file.name} is not a payload log of jupyter-deploy: rows do not match their columns")
    for index, name in enumerate(names):
        column = columns.setdefault(str(name), [None] * before)
        column.extend(row[index] for row in rows)
    for column in columns.values():
        if len(column) < before + len(rows):
            column.extend([None] * (before + len(rows) - len(column)))


def _read_jsonl(file: Path) -> list[dict[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MonitorError(f"cannot read payload file {file}: {error}") from None
    lines = text.split("\n")
    complete = lines[:-1]  # the last piece has no newline yet: still being written, or empty
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise MonitorError(f"{file.name} line {number} is not JSON: not a payload log of jupyter-deploy") from None
        if not isinstance(record, dict) or "inputs" not in record:
            raise MonitorError(f"{file.name} line {number} is not a payload record (no 'inputs')")
        records.append(record)
    return records


def _read_parquet(file: Path) -> list[dict[str, Any]]:
    """Parquet rows (one per input row) grouped back into requests."""
    try:
        import pyarrow.parquet as pq

        rows = pq.read_table(file).to_pylist()
    except ImportError:
        raise MonitorError(f"{file.name} is Parquet, which needs pyarrow: pip install pyarrow") from None
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise MonitorError(f"cannot read payload file {file}: {error}") from None
    requests: dict[str, dict[str, Any]] = {}
    for row in rows:
        if "deployment" not in row or "request_id" not in row:
            raise MonitorError(f"{file.name} is not a payload log of jupyter-deploy (no deployment/request_id)")
        key = f"{row.get('timestamp')}/{row['request_id']}"
        request = requests.get(key)
        if request is None:
            inputs = [name for name in row if name.startswith("input.")]
            outputs = [name for name in row if name.startswith("output.")]
            request = requests[key] = {
                **{name: row.get(name) for name in ("timestamp", "deployment", "version", "request_id")},
                "input_columns": [name.removeprefix("input.") for name in inputs],
                "output_columns": [name.removeprefix("output.") for name in outputs],
                "inputs": [],
                "outputs": [],
            }
        request["inputs"].append([row.get(f"input.{name}") for name in request["input_columns"]])
        outputs = [row.get(f"output.{name}") for name in request["output_columns"]]
        if request["output_columns"]:
            request["outputs"].append(outputs)
    return list(requests.values())
