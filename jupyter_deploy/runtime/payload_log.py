"""Payload logging: every request's inputs and outputs, written to files off the request path.

``NotebookModel.predict`` hands each answered request to ``PayloadLog.record``, which only appends a tuple to
a bounded deque (no copy, no encoding, no lock: well under a microsecond). A background thread wakes every
``FLUSH_SECONDS``, turns the queued requests into records and writes them. Serving never waits for disk, and
no request leaves the log unnoticed: one that is not logged is counted in ``/metrics``
(``jupyter_deploy_payloads_dropped_total{model_name, reason}``; reason ``queue_full``, ``write_failed`` (a
full disk, a directory gone) or ``unloggable`` (a value the log cannot tabulate)), and the server's log says
so when it starts happening (a failing disk at most every ``WARN_EVERY_S``). A directory the server cannot write
into is refused at start (``writable_problem``: a file is created, written, synced and removed there).
A predict that changes its input in place is logged with the changed values (nothing is copied).

Files: ``DEPLOYMENT-VERSION-STARTED-PID-N.jsonl`` (one JSON object per request: ``timestamp``, ``deployment``,
``version``, ``content_hash``, ``request_id``, ``protocol``, ``input_columns``, ``inputs`` (rows),
``output_columns``, ``outputs`` (rows)), appended whole lines at a time so a reader sees complete lines;
or ``.parquet`` (one row per input row: the same fields, ``row``, then ``input.COLUMN`` and
``output.COLUMN``), written as ``.parquet.part`` and renamed when the file is closed, the only moment a
Parquet file is readable. A file is rotated when it passes ``--log-rotate-mb`` or ``--log-rotate-seconds``
(``runtime.payload_files`` writes them).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
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
from .payload_files import Lost, _JsonLines, _Parquet, _Writer, write_all
from .payload_rows import table

logger = logging.getLogger("jupyter_deploy.payload_log")

FLUSH_SECONDS = 0.05
DROP_REASONS = ("queue_full", "write_failed", "unloggable")
METRIC = "jupyter_deploy_payloads_dropped_total"
WARN_EVERY_S = 600


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


def writable_problem(directory: Path) -> str | None:
    """Why payload files cannot be written into ``directory`` (None: they can). Tried for real: the directory is
    created if needed, and a probe file created, written, synced to disk and removed (permissions alone say
    nothing for root, nor for /proc or a read-only mount)."""
    if directory.exists() and not directory.is_dir():
        return f"cannot write payload logs into {directory}: it is a file, not a directory"
    probe = directory / f".jd-write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_all(descriptor, b"{}\n" * 1024)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        with contextlib.suppress(OSError):
            probe.unlink()
        return f"cannot write payload logs into {directory}: {error.strerror or error}"
    return None


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
        problem = writable_problem(directory)
        if problem:
            raise SystemExit(f"jupyter-deploy: {problem}")
        self.directory = directory
        self.identity = {"deployment": deployment, "version": version, "content_hash": content_hash}
        self.writer: _Writer = (_JsonLines if log_format == "jsonl" else _Parquet)(
            directory, f"{deployment}-{version}", rotate_bytes, rotate_seconds
        )
        self.queue_size = queue_size
        self.pending: deque[tuple[Any, ...]] = deque()
        self.dropped = 0
        """requests not logged, for any reason (``dropped_by`` counts them by reason)"""
        self.dropped_by = dict.fromkeys(DROP_REASONS, 0)
        self.written = 0
        """requests whose records are in a file"""
        self._queue_full = 0  # only ever incremented, on the request path
        self._queue_full_seen = 0  # what the writer thread has counted of it
        self._warned: float | None = None  # when a failed write was last said in the log
        self._dropped_series = _dropped_series(deployment)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jd-payload-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(self, payload: Any, headers: Any, inputs: Any, outputs: Any) -> None:
        """On the request path: queue the request, or count it as dropped when the queue is full."""
        if len(self.pending) >= self.queue_size:
            self._queue_full += 1
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
        try:
            self.written += self.writer.close()
        except Exception as error:
            self._write_failed(error)

    def _drain(self) -> None:
        records = []
        while self.pending:
            item = self.pending.popleft()
            try:
                records.append(self._record(*item))
            except Exception:  # a value the log cannot tabulate must never stop the writer
                logger.exception("payload log: a request could not be logged")
                self._drop("unloggable", 1)
        queue_full = self._queue_full - self._queue_full_seen
        self._queue_full_seen += queue_full
        if queue_full:
            if not self.dropped_by["queue_full"]:
                logger.warning("payload log: the queue is full: requests are not logged (counted in %s)", METRIC)
            self._drop("queue_full", queue_full)
        try:
            written = self.writer.write(records)
        except Exception as error:
            self._write_failed(error, len(records))
            return
        self.written += written

    def _write_failed(self, error: Exception, records: int = 0) -> None:
        """Count what ``error`` lost (``Lost`` says how many requests; anything else, this round's records)."""
        lost = error.lost if isinstance(error, Lost) else records
        cause = error.__cause__ if isinstance(error, Lost) and error.__cause__ else error
        self._drop("write_failed", lost)
        now = time.monotonic()
        if self._warned is None or now - self._warned >= WARN_EVERY_S:  # a full disk must not flood the log
            self._warned = now
            logger.warning(
                "payload log: writing to %s failed (%s): %d requests not logged so far, counted in %s "
                "(said at most every %d s)", self.directory, cause, self.dropped_by["write_failed"], METRIC,
                WARN_EVERY_S,
            )  # fmt: skip

    def _drop(self, reason: str, count: int) -> None:
        if count <= 0:
            return
        self.dropped += count
        self.dropped_by[reason] += count
        if self._dropped_series:
            with contextlib.suppress(Exception):  # metrics are never a reason to stop logging
                self._dropped_series[reason].inc(count)

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


def _dropped_series(deployment: str) -> dict[str, Any]:
    """The dropped-requests counter's series for ``deployment``, one per reason, at 0 from the start (an
    alert on them needs them to exist); empty when prometheus_client is not there."""
    try:
        from prometheus_client import REGISTRY, Counter
    except ImportError:
        return {}
    counter: Any = REGISTRY._names_to_collectors.get(METRIC)
    if counter is None:
        counter = Counter(
            METRIC.removesuffix("_total"), "Requests that were answered but not written to the payload log",
            ["model_name", "reason"],
        )  # fmt: skip
    return {reason: counter.labels(model_name=deployment, reason=reason) for reason in DROP_REASONS}
