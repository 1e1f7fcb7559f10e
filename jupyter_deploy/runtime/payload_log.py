"""Payload logging: every request's inputs and outputs, written to files off the request path.

``NotebookModel.predict`` hands each answered request to ``PayloadLog.record``, which only appends a tuple to
a bounded deque (no copy, no encoding, no lock: well under a microsecond). A background thread wakes every
``FLUSH_SECONDS``, turns the queued requests into records and writes them. When the queue is full the request
is not logged and counted instead (``jupyter_deploy_payloads_dropped_total``): serving never waits for disk.
A predict that changes its input in place is logged with the changed values (nothing is copied).

Files: ``DEPLOYMENT-VERSION-STARTED-PID-N.jsonl`` (one JSON object per request: ``timestamp``, ``deployment``,
``version``, ``content_hash``, ``request_id``, ``protocol``, ``input_columns``, ``inputs`` (rows),
``output_columns``, ``outputs`` (rows)), appended whole lines at a time so a reader sees complete lines;
or ``.parquet`` (one row per input row: the same fields, ``row``, then ``input.COLUMN`` and
``output.COLUMN``), written as ``.parquet.part`` and renamed when the file is closed, the only moment a
Parquet file is readable. A file is rotated when it passes ``--log-rotate-mb`` or ``--log-rotate-seconds``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .listen import PAYLOAD_LOG_DEFAULTS as DEFAULTS
from .listen import PAYLOAD_LOG_FORMATS as FORMATS
from .payload_rows import table

logger = logging.getLogger("jupyter_deploy.payload_log")

FLUSH_SECONDS = 0.05
PARQUET_ROW_GROUP = 10_000


def settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """The options ``open_payload_log`` takes, or None when payloads are not logged."""
    if not getattr(args, "log_payloads", None):
        return None
    return {"directory": args.log_payloads, **{key: getattr(args, key) for key in DEFAULTS}}


def open_payload_log(model: Any, options: dict[str, Any] | None) -> PayloadLog | None:
    """The log for ``model`` (deployment and version from the ``version.json`` beside its predictor.py)."""
    if not options:
        return None
    identity = _version_identity(model)
    return PayloadLog(
        Path(options["directory"]),
        deployment=getattr(model, "name", None) or identity.get("name", "model"),
        version=identity.get("version", "unknown"),
        content_hash=identity.get("content_hash", ""),
        log_format=options.get("log_format") or "jsonl",
        rotate_bytes=int(float(options.get("log_rotate_mb") or DEFAULTS["log_rotate_mb"]) * 1024 * 1024),
        rotate_seconds=float(options.get("log_rotate_seconds") or DEFAULTS["log_rotate_seconds"]),
        queue_size=int(options.get("log_queue_size") or DEFAULTS["log_queue_size"]),
    )


def _version_identity(model: Any) -> dict[str, Any]:
    module = sys.modules.get(type(model).__module__)
    path = Path(getattr(module, "__file__", "") or ".").resolve().parent / "version.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: info.get(key) for key in ("name", "version", "content_hash")}


def format_problem(log_format: str) -> str | None:
    """Why payloads cannot be logged as ``log_format`` here (None: they can); also checked before serving."""
    if log_format not in FORMATS:
        return f"--log-format is one of {', '.join(FORMATS)}, not {log_format!r}"
    if log_format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return "--log-format parquet needs pyarrow: pip install pyarrow"
    return None


class PayloadLog:
    """A bounded queue of answered requests and the thread that writes them."""

    def __init__(
        self,
        directory: Path,
        deployment: str,
        version: str,
        content_hash: str = "",
        log_format: str = "jsonl",
        rotate_bytes: int = 64 * 1024 * 1024,
        rotate_seconds: float = 3600.0,
        queue_size: int = 10_000,
    ) -> None:
        problem = format_problem(log_format)
        if problem:
            raise SystemExit(f"jupyter-deploy: {problem}")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SystemExit(f"jupyter-deploy: cannot create the payload directory {directory}: {error}") from None
        self.directory = directory
        self.identity = {"deployment": deployment, "version": version, "content_hash": content_hash}
        self.writer: _Writer = (_JsonLines if log_format == "jsonl" else _Parquet)(
            directory, f"{deployment}-{version}", rotate_bytes, rotate_seconds
        )
        self.queue_size = queue_size
        self.pending: deque[tuple[Any, ...]] = deque()
        self.dropped = 0
        self.written = 0
        self._reported_drops = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jd-payload-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(self, payload: Any, headers: Any, inputs: Any, outputs: Any) -> None:
        """On the request path: queue the request, or count it as dropped when the queue is full."""
        if len(self.pending) >= self.queue_size:
            self.dropped += 1
            return
        self.pending.append((time.time(), payload, headers, inputs, outputs))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and close the current file (at exit, or by tests)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._drain()
        self._drain()
        self.writer.close()

    def _drain(self) -> None:
        records = []
        while self.pending:
            item = self.pending.popleft()
            try:
                records.append(self._record(*item))
            except Exception:  # a value the log cannot tabulate must never stop the writer
                logger.exception("payload log: a request could not be logged")
        try:
            self.writer.write(records)
        except Exception:
            logger.exception("payload log: writing to %s failed", self.directory)
        self.written += len(records)
        if self.dropped > self._reported_drops:
            _count_drops(self.identity["deployment"], self.dropped - self._reported_drops)
            logger.warning(
                "payload log: queue full, %d requests not logged so far", self.dropped
            )  # fmt: skip
            self._reported_drops = self.dropped

    def _record(self, stamp: float, payload: Any, headers: Any, inputs: Any, outputs: Any) -> dict[str, Any]:
        inputs_table = table(inputs)
        outputs_table = table(outputs) if outputs is not None and not hasattr(outputs, "__anext__") else None
        return {
            "timestamp": datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z"),
            **self.identity,
            "request_id": _request_id(payload, headers),
            "protocol": "v1" if isinstance(payload, dict) else "v2",
            "input_columns": inputs_table.names,
            "inputs": inputs_table.row_lists(),
            "output_columns": outputs_table.names if outputs_table else [],
            "outputs": outputs_table.row_lists() if outputs_table else [],
        }


def _request_id(payload: Any, headers: Any) -> str:
    found = getattr(payload, "id", None)
    if not found and headers:
        found = headers.get("x-request-id") or headers.get("X-Request-Id")
    return str(found) if found else uuid.uuid4().hex


def _count_drops(deployment: str, count: int) -> None:
    try:
        from prometheus_client import REGISTRY, Counter

        counter: Any = REGISTRY._names_to_collectors.get("jupyter_deploy_payloads_dropped")
        if counter is None:
            counter = Counter(
                "jupyter_deploy_payloads_dropped", "Requests not logged because the payload queue was full",
                ["model_name"],
            )  # fmt: skip
        counter.labels(model_name=deployment).inc(count)
    except Exception:  # metrics are a convenience here
        pass


class _Writer:
    """One open file at a time, rotated by size and age."""

    suffix = ""

    def __init__(self, directory: Path, prefix: str, rotate_bytes: int, rotate_seconds: float) -> None:
        self.directory, self.prefix = directory, prefix
        self.rotate_bytes, self.rotate_seconds = rotate_bytes, rotate_seconds
        self.sequence = 0
        self.path: Path | None = None
        self.opened = 0.0
        self.size = 0

    def _next_path(self) -> Path:
        self.sequence += 1
        started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        return self.directory / f"{self.prefix}-{started}-{os.getpid()}-{self.sequence}{self.suffix}"

    def _due(self) -> bool:
        return self.path is not None and (
            self.size >= self.rotate_bytes or time.monotonic() - self.opened >= self.rotate_seconds
        )

    def write(self, records: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _JsonLines(_Writer):
    suffix = ".jsonl"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.stream: Any = None

    def write(self, records: list[dict[str, Any]]) -> None:
        if self._due():
            self.close()
        if not records:
            return
        if self.stream is None:
            self.path = self._next_path()
            self.stream = self.path.open("a", encoding="utf-8")
            self.opened, self.size = time.monotonic(), 0
        text = "".join(json.dumps(record, separators=(",", ":"), default=str) + "\n" for record in records)
        self.stream.write(text)
        self.stream.flush()
        self.size += len(text)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream, self.path = None, None


class _Parquet(_Writer):
    suffix = ".parquet"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writer: Any = None
        self.buffer: list[dict[str, Any]] = []
        self.flushed = time.monotonic()

    def write(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.buffer.extend(_flat_rows(record))
        if len(self.buffer) >= PARQUET_ROW_GROUP or (self.buffer and time.monotonic() - self.flushed > 10):
            self._write_group()
        if self._due():
            self.close()

    def _write_group(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows, self.buffer, self.flushed = self.buffer, [], time.monotonic()
        if not rows:
            return
        group = pa.Table.from_pylist(rows)
        if self.writer is not None and not group.schema.equals(self.writer.schema):
            self.close()  # the columns changed (another kind of request): a new file
        if self.writer is None:
            self.path = self._next_path()
            self.writer = pq.ParquetWriter(str(self.path) + ".part", group.schema)
            self.opened, self.size = time.monotonic(), 0
        self.writer.write_table(group)
        self.size += group.nbytes

    def close(self) -> None:
        if self.buffer:
            self._write_group()
        if self.writer is not None and self.path is not None:
            self.writer.close()
            os.replace(str(self.path) + ".part", self.path)
        self.writer, self.path = None, None


def _flat_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    head = {key: record[key] for key in ("timestamp", "deployment", "version", "content_hash", "request_id")}
    head["protocol"] = record["protocol"]
    outputs = record["outputs"]
    rows = []
    for index, values in enumerate(record["inputs"]):
        row = {**head, "row": index}
        row.update(zip((f"input.{name}" for name in record["input_columns"]), values, strict=False))
        if index < len(outputs):
            row.update(zip((f"output.{name}" for name in record["output_columns"]), outputs[index], strict=False))
        rows.append(row)
    return rows
