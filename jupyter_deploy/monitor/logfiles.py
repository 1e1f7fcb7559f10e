"""Payload log files read in chunks: what ``payloads.PayloadReader`` streams, whatever the size of the logs.

A JSON Lines file (one request a line) is read ``BLOCK_BYTES`` at a time and parsed line by line (orjson;
the standard library for the rare line orjson refuses, NaN for one); the requests' rows are grouped by their
column names and turned into columns once per chunk (an object table filled at C speed, then sliced), not
value by value. A Parquet file (one input
row a row: ``input.NAME``, ``output.NAME``) is read ``CHUNK_ROWS`` rows at a time as Arrow arrays. Either way
a chunk holds about ``CHUNK_ROWS`` rows, what a drift summary takes at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import MonitorError

CHUNK_ROWS = 50_000  # logged rows summarised at a time
BLOCK_BYTES = 4 * 1024 * 1024  # of a JSON Lines file read at a time


@dataclass
class Block:
    """Rows of requests that had the same columns: name -> values (a list, a tuple or a pyarrow array)."""

    columns: dict[str, Any]
    rows: int


@dataclass
class Chunk:
    """Some requests of one file: their input and output rows (an output block only where the answer had one
    row per input row), and what ``Payloads`` counts."""

    inputs: list[Block] = field(default_factory=list)
    outputs: list[Block] = field(default_factory=list)
    requests: int = 0
    rows: int = 0
    deployments: set[Any] = field(default_factory=set)
    versions: Counter[Any] = field(default_factory=Counter)
    times: list[str] = field(default_factory=list)  # the earliest and latest timestamp


def plain_values(column: Any) -> list[Any]:
    """A chunk as Python values (a pyarrow array read from Parquet, an object array from JSON Lines)."""
    if hasattr(column, "to_pylist"):
        return list(column.to_pylist())
    if hasattr(column, "tolist"):
        return list(column.tolist())
    return list(column)


def jsonl_chunks(path: Path) -> Iterator[Chunk]:
    grouped = _Grouped(path)
    for lines, first in _line_blocks(path):
        grouped.add(*_parse(path, lines, first))
        if grouped.rows >= CHUNK_ROWS:
            yield grouped.chunk()
            grouped = _Grouped(path)
    if grouped.requests:
        yield grouped.chunk()


def parquet_chunks(path: Path) -> Iterator[Chunk]:
    """One chunk per batch of Parquet rows; a request starts where the (timestamp, request_id) changes."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        raise MonitorError(f"{path.name} is Parquet, which needs pyarrow: pip install pyarrow") from None
    previous: tuple[Any, Any] | None = None  # the last request of the batch before
    for batch in _parquet_batches(path):
        names = batch.schema.names
        if "deployment" not in names or "request_id" not in names:
            raise MonitorError(f"{path.name} is not a payload log of jupyter-deploy (no deployment/request_id)")
        stamps = batch.column("timestamp") if "timestamp" in names else pa.nulls(batch.num_rows, pa.string())
        ids = batch.column("request_id")
        changed = pc.or_(pc.not_equal(ids[1:], ids[:-1]), pc.not_equal(stamps[1:], stamps[:-1]))
        first = (stamps[0].as_py(), ids[0].as_py()) != previous
        previous = (stamps[-1].as_py(), ids[-1].as_py())
        starts = pa.concat_arrays([pa.array([first]), pc.fill_null(changed, True)])
        chunk = Chunk(requests=pc.sum(starts).as_py() or 0, rows=batch.num_rows)
        chunk.deployments = set(pc.unique(batch.column("deployment")).to_pylist())
        versions = pc.filter(batch.column("version"), starts) if "version" in names else pa.nulls(chunk.requests)
        chunk.versions = Counter({item["values"]: item["counts"] for item in pc.value_counts(versions).to_pylist()})
        if pa.types.is_string(stamps.type) or pa.types.is_large_string(stamps.type):
            bounds = pc.min_max(stamps).as_py()
            chunk.times = [stamp for stamp in (bounds["min"], bounds["max"]) if stamp is not None]
        inputs = {name[6:]: batch.column(name) for name in names if name.startswith("input.")}
        outputs = {name[7:]: batch.column(name) for name in names if name.startswith("output.")}
        chunk.inputs = [Block(inputs, batch.num_rows)]
        chunk.outputs = [Block(outputs, batch.num_rows)] if outputs else []
        yield chunk


class _Grouped:
    """Requests' rows gathered by their column names, into one ``Chunk``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inputs: dict[tuple[Any, ...], _Group] = {}
        self.outputs: dict[tuple[Any, ...], _Group] = {}
        self.rows = self.requests = 0
        self.deployments: set[Any] = set()
        self.versions: Counter[Any] = Counter()
        self.times: list[str] = []

    def add(self, records: list[dict[str, Any]], numbers: Sequence[int]) -> None:
        """A block of records (``numbers``: their lines). The loop runs once per request: keep it lean."""
        self.deployments.update(_hashable(record.get("deployment")) for record in records)
        self.versions.update(_hashable(record.get("version")) for record in records)
        stamps = [stamp for record in records if type(stamp := record.get("timestamp")) is str]
        if stamps:
            self.times = [min(stamps + self.times), max(stamps + self.times)]
        inputs, outputs = self.inputs, self.outputs
        for index, record in enumerate(records):
            rows = record.get("inputs") or []
            group = self._group(inputs, record.get("input_columns"), numbers[index], "input")
            if type(rows) is not list or not _fits(rows, group.width):
                raise self._mismatch(numbers[index], "input")
            group.rows.extend(rows)
            self.rows += len(rows)
            answers = record.get("outputs") or []
            if type(answers) is not list:
                raise self._mismatch(numbers[index], "output")
            if len(answers) == len(rows):  # an answer that is not one row per input row is left out
                group = self._group(outputs, record.get("output_columns"), numbers[index], "output")
                if not _fits(answers, group.width):
                    raise self._mismatch(numbers[index], "output")
                group.rows.extend(answers)
        self.requests += len(records)

    def chunk(self) -> Chunk:
        return Chunk(
            inputs=[group.block() for group in self.inputs.values()],
            outputs=[group.block() for group in self.outputs.values()],
            requests=self.requests,
            rows=self.rows,
            deployments=self.deployments,
            versions=self.versions,
            times=self.times,
        )

    def _group(self, groups: dict[tuple[Any, ...], _Group], names: Any, line: int, side: str) -> _Group:
        if type(names) is list:
            try:
                group = groups.get(tuple(names))
            except TypeError:  # a list or an object among the names: refused by _keys
                group = None
            if group is not None:
                return group
        elif names is None:
            names = []
        else:
            raise MonitorError(
                f"{self.path.name} line {line}: {side}_columns should be a list of column names, not "
                f"{_shown(names)}: not a payload log of jupyter-deploy"
            )
        group = groups[tuple(names)] = _Group(_keys(self.path, names, line, side))
        return group

    def _mismatch(self, line: int, side: str) -> MonitorError:
        return MonitorError(
            f"{self.path.name} line {line}: the {side} rows do not match their columns: not a payload log of "
            "jupyter-deploy"
        )


class _Group:
    """The rows of requests with the same column names."""

    def __init__(self, keys: list[str | None]) -> None:
        self.keys, self.width = keys, len(keys)
        self.rows: list[list[Any]] = []

    def block(self) -> Block:
        """The rows as columns (object arrays: a table filled at C speed, then sliced)."""
        import numpy as np

        table = np.empty((len(self.rows), self.width), dtype=object)
        try:
            table[:] = self.rows
        except (ValueError, TypeError):  # values that are lists of one length look like a dimension to numpy
            columns = {key: [row[index] for row in self.rows] for index, key in enumerate(self.keys) if key is not None}
            return Block(columns, len(self.rows))
        return Block({key: table[:, index] for index, key in enumerate(self.keys) if key is not None}, len(self.rows))


def _fits(rows: list[Any], width: int) -> bool:
    if len(rows) == 1:
        row = rows[0]
        return type(row) is list and len(row) == width
    return all(type(row) is list and len(row) == width for row in rows)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _hashable(value: Any) -> Any:
    return str(value) if isinstance(value, (list, dict)) else value


def _keys(path: Path, names: list[Any], line: int, side: str) -> list[str | None]:
    """The columns a request's values go to (None for a repeated name: its first column counts)."""
    keys: list[str | None] = []
    for name in names:
        if isinstance(name, (list, dict)):
            raise MonitorError(
                f"{path.name} line {line}: {side}_columns holds {_shown(name)}, which is no column name: not a "
                "payload log of jupyter-deploy"
            )
        key = name if isinstance(name, str) else str(name)
        keys.append(None if key in keys else key)
    return keys


def _line_blocks(path: Path) -> Iterator[tuple[list[bytes], int]]:
    """(complete lines, the first one's number), ``BLOCK_BYTES`` at a time; the last piece without a newline is
    still being written and is left out."""
    number, tail = 1, b""
    try:
        with path.open("rb") as stream:
            while block := stream.read(BLOCK_BYTES):
                lines = (tail + block).split(b"\n")
                tail = lines.pop()
                yield lines, number
                number += len(lines)
    except OSError as error:
        raise MonitorError(f"cannot read payload file {path}: {error.strerror or error}") from None


def _parse(path: Path, lines: list[bytes], first: int) -> tuple[list[dict[str, Any]], Sequence[int]]:
    """The records of a block of lines and their line numbers; a line that is no payload record stops with one
    line naming it."""
    import orjson

    try:
        records = [orjson.loads(line) for line in lines]
    except orjson.JSONDecodeError:  # a blank line, NaN, or no JSON: line by line, to say which
        return _parse_lines(path, lines, first)
    if all(type(record) is dict and "inputs" in record for record in records):
        return records, range(first, first + len(records))
    return _parse_lines(path, lines, first)


def _parse_lines(path: Path, lines: list[bytes], first: int) -> tuple[list[dict[str, Any]], list[int]]:
    import orjson

    records, numbers = [], []
    for number, line in enumerate(lines, first):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = _parse_strictly(path, line, number)
        if type(record) is not dict or "inputs" not in record:
            raise MonitorError(f"{path.name} line {number} is not a payload record (no 'inputs')")
        records.append(record)
        numbers.append(number)
    return records, numbers


def _parse_strictly(path: Path, line: bytes, number: int) -> Any:
    """The standard library's reading of a line orjson refused (it takes NaN and Infinity), or why it is none."""
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        why = "is not UTF-8 text"
    except ValueError:
        why = "is not JSON"
    except RecursionError:
        why = "is nested too deep to be a payload record"
    raise MonitorError(f"{path.name} line {number} {why}: not a payload log of jupyter-deploy")


def _parquet_batches(path: Path) -> Iterator[Any]:
    """The file's rows, ``CHUNK_ROWS`` at a time; a damaged file is one line naming it."""
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS)
        for batch in batches:
            if batch.num_rows:
                yield batch
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise MonitorError(f"cannot read payload file {path}: {' '.join(str(error).split())[:300]}") from None
