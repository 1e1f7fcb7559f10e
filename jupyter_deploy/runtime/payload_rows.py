"""Any input or output value as a table of feature columns: what payload logs store and profiles describe.

One rule for both sides (the served version writes logs with it, export profiles ``example_input`` with it),
so that a logged column and a profiled feature with the same name are the same thing:
- a DataFrame: its columns (labels as text); a Series: one column;
- an array or tensor: rows along the first dimension; a 1-D one is one column ``0``; a 2-D one has columns
  ``0``, ``1``, ...; extra dimensions are flattened into columns named by their index (``2,5``);
- a list of records (dicts): their keys; a list of scalars: one column ``0``; any other value: one row.
Only the first ``max_features`` columns are kept (``Table.total_features`` says how many there were).
No kserve import: export uses this module in the kernel.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

MAX_FEATURES = 64
NUMERIC_KINDS = "iuf"


@dataclass
class Table:
    """Columns of equal length; ``values[i]`` is a numpy array (numbers) or a list (anything else)."""

    names: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    rows: int = 0
    total_features: int = 0

    def row_lists(self) -> list[list[Any]]:
        """The table as JSON-ready rows (NaN as None)."""
        columns = [_jsonable_column(column) for column in self.values]
        return [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in range(self.rows)]


def table(value: Any, max_features: int = MAX_FEATURES) -> Table:
    """``value`` (an input batch or a predict result) as feature columns."""
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, on any device
        tensor = value.detach().cpu()
        value = (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()
    frame_columns = _frame_columns(value)
    if frame_columns is not None:
        return _limited(frame_columns, max_features)
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, dict) for item in value):
        names = sorted({str(key) for item in value for key in item})
        records = [{str(key): item for key, item in record.items()} for record in value]
        return _limited([(name, [record.get(name) for record in records]) for name in names], max_features)
    if isinstance(value, dict):
        return table([value], max_features)
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except (ValueError, TypeError):  # ragged
            return _limited([("0", [_scalar(item) for item in value])], max_features)
    if value.ndim == 0:
        value = value.reshape(1)
    if value.ndim == 1:
        return _limited([("0", _column(value))], max_features)
    if value.dtype.kind == "O" and value.ndim > 2:
        return _limited([("0", [_scalar(item) for item in value.tolist()])], max_features)
    flat = value.reshape(value.shape[0], -1)
    shape = value.shape[1:]
    total = flat.shape[1]
    keep = min(total, max_features)
    names = [",".join(str(i) for i in np.unravel_index(k, shape)) for k in range(keep)]
    return Table(names, [_column(flat[:, k]) for k in range(keep)], int(flat.shape[0]), total)


def _frame_columns(value: Any) -> list[tuple[str, Any]] | None:
    import sys

    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if isinstance(value, pandas.Series):
        value = value.to_frame(name=value.name if value.name is not None else "0")
    if not isinstance(value, pandas.DataFrame):
        return None
    columns = []
    for label in value.columns:
        series = value[label]
        if series.dtype.kind in NUMERIC_KINDS and not hasattr(series.dtype, "categories"):
            columns.append((str(label), series.to_numpy(dtype="float64", na_value=float("nan"))))
        else:
            columns.append((str(label), [None if _missing(item) else _scalar(item) for item in series.tolist()]))
    return columns


def _limited(columns: list[tuple[str, Any]], max_features: int) -> Table:
    rows = len(columns[0][1]) if columns else 0
    kept = columns[:max_features]
    return Table([name for name, _ in kept], [values for _, values in kept], rows, len(columns))


def _column(values: Any) -> Any:
    """Numbers stay a float array; anything else becomes a list of plain scalars."""
    import numpy as np

    if values.dtype.kind in NUMERIC_KINDS:
        return values.astype(np.float64, copy=False)
    return [None if _missing(item) else _scalar(item) for item in values.tolist()]


def _scalar(item: Any) -> Any:
    """A JSON scalar: text, number or bool stay; bytes are decoded; containers become their JSON text."""
    if isinstance(item, bytes):
        return item.decode("utf-8", errors="replace")
    if item is None or isinstance(item, (str, int, float, bool)):
        return item
    if hasattr(item, "item"):  # a numpy scalar
        return item.item()
    try:
        return json.dumps(item, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(item)


def _missing(item: Any) -> bool:
    return item is None or (isinstance(item, float) and math.isnan(item))


def _jsonable_column(column: Any) -> list[Any]:
    if isinstance(column, list):
        return column
    values = column.tolist()
    if column.dtype.kind == "f":
        return [None if item != item or item in (math.inf, -math.inf) else item for item in values]
    return values
