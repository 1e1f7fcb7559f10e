"""The payload log's files: one open file at a time, JSON Lines or Parquet, rotated by size and age.

``runtime.payload_log`` hands each round of records to a writer and counts what ``write`` says is in a file.
A failed write raises ``Lost`` with the number of requests that are in no file, its cause chained: a JSON
Lines write is cut back to the file's last whole line (a reader never meets a broken line in the middle of
a file), and a JSON Lines file removed while open is replaced by a new one (writes into it would reach no
one); a Parquet file whose row group cannot be written is closed if it can be, else removed (without its
footer it cannot be read).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PARQUET_ROW_GROUP = 10_000


class Lost(Exception):
    """A write failed and ``lost`` requests are not in any file (the cause is chained)."""

    def __init__(self, lost: int) -> None:
        super().__init__(f"{lost} requests lost")
        self.lost = lost


def write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


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

    def write(self, records: list[dict[str, Any]]) -> int:
        """Write (or buffer) ``records``: the number of requests now in a file; ``Lost`` when a write failed."""
        raise NotImplementedError

    def close(self) -> int:
        """Close the current file: the number of requests written by closing it (buffered ones)."""
        raise NotImplementedError


class _JsonLines(_Writer):
    suffix = ".jsonl"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.descriptor: int | None = None

    def write(self, records: list[dict[str, Any]]) -> int:
        if self._due() or self._removed():
            self.close()
        if not records:
            return 0
        data = "".join(json.dumps(record, separators=(",", ":"), default=str) + "\n" for record in records).encode()
        try:
            if self.descriptor is None:
                path = self._next_path()
                self.descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self.path, self.opened, self.size = path, time.monotonic(), 0
            write_all(self.descriptor, data)  # one system call for the whole round, as a rule
        except OSError as error:
            if self.descriptor is not None:  # a partial line would spoil the next one: back to the last whole line
                with contextlib.suppress(OSError):
                    os.ftruncate(self.descriptor, self.size)
            raise Lost(len(records)) from error
        self.size += len(data)
        return len(records)

    def _removed(self) -> bool:
        """The open file was removed (with its directory, say): writes to it would succeed and reach no one."""
        try:
            return self.descriptor is not None and os.fstat(self.descriptor).st_nlink == 0
        except OSError:
            return True

    def close(self) -> int:
        if self.descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self.descriptor)
        self.descriptor, self.path = None, None
        return 0


class _Parquet(_Writer):
    suffix = ".parquet"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writer: Any = None
        self.buffer: list[dict[str, Any]] = []
        self.buffered = 0  # requests in the buffer
        self.in_file = 0  # requests in the open file's row groups
        self.flushed = time.monotonic()

    def write(self, records: list[dict[str, Any]]) -> int:
        for record in records:
            self.buffer.extend(_flat_rows(record))
        self.buffered += len(records)
        written = 0
        if len(self.buffer) >= PARQUET_ROW_GROUP or (self.buffer and time.monotonic() - self.flushed > 10):
            written += self._write_group()
        if self._due():
            written += self.close()
        return written

    def _write_group(self) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows, requests = self.buffer, self.buffered
        self.buffer, self.buffered, self.flushed = [], 0, time.monotonic()
        if not rows:
            return 0
        try:
            group = pa.Table.from_pylist(rows)
            if self.writer is not None and not group.schema.equals(self.writer.schema):
                self._finish()  # the columns changed (another kind of request): a new file
            if self.writer is None:
                self.path = self._next_path()
                self.writer = pq.ParquetWriter(str(self.path) + ".part", group.schema)
                self.opened, self.size, self.in_file = time.monotonic(), 0, 0
            self.writer.write_table(group)
        except Exception as error:
            raise Lost(requests + self._abandon()) from error
        self.size += group.nbytes
        self.in_file += requests
        return requests

    def close(self) -> int:
        written = self._write_group() if self.buffer else 0
        try:
            self._finish()
        except Exception as error:
            raise Lost(self._abandon()) from error
        return written

    def _finish(self) -> None:
        if self.writer is not None and self.path is not None:
            self.writer.close()
            os.replace(str(self.path) + ".part", self.path)
        self.writer, self.path, self.in_file = None, None, 0

    def _abandon(self) -> int:
        """After a failed write: keep the file if it can still be closed; else remove it (a Parquet file without
        its footer cannot be read). The number of requests lost with it."""
        try:
            self._finish()
            return 0
        except Exception:
            lost, path = self.in_file, self.path
            self.writer, self.path, self.in_file = None, None, 0
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(str(path) + ".part")
            return lost


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
