"""Payload logs on this side: the serve options that turn them on, and reading them back for ``monitor``.

The files are the ones ``runtime/payload_log.py`` writes (``*.jsonl``: one request a line; ``*.parquet``: one
input row a row), read once, in chunks of about ``CHUNK_ROWS`` rows (``logfiles``): memory does not grow with
the logs. A JSON Lines file may end in a line still being written: it is left out, never an error.
``*.parquet.part`` files are still open and are skipped. Anything else that cannot be read (a line that is
not JSON or nested too deep, column names that are not a list, rows that do not match their columns), or
records of another deployment, stops with one line naming the file (and the line): a log that is not what
the runtime writes is not judged on the part that could be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import MonitorError
from ..runtime.payload_log import format_problem
from .logfiles import Chunk, jsonl_chunks, parquet_chunks, plain_values

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
    """What the logs hold for one deployment: requests, rows, versions, where from (``inputs`` and ``outputs``,
    the columns themselves, only from ``read_payloads``)."""

    inputs: dict[str, list[Any]] = field(default_factory=dict)
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    requests: int = 0
    rows: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    first: str | None = None
    last: str | None = None

    def add(self, chunk: Chunk) -> None:
        """A chunk's requests, rows, versions and times."""
        self.requests += chunk.requests
        self.rows += chunk.rows
        for version, count in chunk.versions.items():
            key = str(version)
            self.versions[key] = self.versions.get(key, 0) + count
        for stamp in chunk.times:
            self.first = min(self.first or stamp, stamp)
            self.last = max(self.last or stamp, stamp)


class PayloadReader:
    """The logs of ``deployment`` under ``directory`` (its files, in name order), read once, chunk by chunk;
    ``summary`` counts requests, rows, versions and times as the chunks go by."""

    def __init__(self, directory: str | Path, deployment: str) -> None:
        path = Path(directory)
        if not path.is_dir():
            raise MonitorError(
                f"no payload directory {directory}: serve with --log-payloads {directory} to log requests there"
            )
        self.directory, self.deployment = directory, deployment
        self.paths = sorted(item for item in path.iterdir() if item.is_file() and item.suffix in SUFFIXES)
        if not self.paths:
            raise MonitorError(
                f"no payload files (*.jsonl, *.parquet) in {directory}: serve {deployment} with "
                f"--log-payloads {directory} and send it requests first"
            )
        self.summary = Payloads()

    def chunks(self) -> Iterator[Chunk]:
        for path in self.paths:
            for chunk in jsonl_chunks(path) if path.suffix == ".jsonl" else parquet_chunks(path):
                if chunk.deployments != {self.deployment}:
                    found = next(iter(chunk.deployments - {self.deployment}))
                    raise MonitorError(
                        f"{path.name} holds payloads of deployment {found!r}, not {self.deployment!r}: give a "
                        f"directory with {self.deployment}'s logs only (each deployment logs to its own "
                        "--log-payloads directory)"
                    )
                self.summary.add(chunk)
                yield chunk
            self.summary.files.append(path.name)
        if self.summary.rows == 0:
            raise MonitorError(
                f"the payload files in {self.directory} hold no requests yet: send {self.deployment} requests first"
            )


def read_payloads(directory: str | Path, deployment: str) -> Payloads:
    """Every logged request of ``deployment`` under ``directory``, columns included, in memory: for small logs
    (tests, a quick look); ``monitor`` streams them through ``PayloadReader`` instead."""
    reader = PayloadReader(directory, deployment)
    payloads = reader.summary
    for chunk in reader.chunks():
        for columns, blocks in ((payloads.inputs, chunk.inputs), (payloads.outputs, chunk.outputs)):
            for block in blocks:
                before = len(next(iter(columns.values()), []))
                for name, values in block.columns.items():
                    column = columns.setdefault(name, [None] * before)
                    column.extend(plain_values(values))
                for column in columns.values():
                    column.extend([None] * (before + block.rows - len(column)))
    return payloads
