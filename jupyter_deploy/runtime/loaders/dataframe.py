"""``.frame.json``: a pandas DataFrame (or Series) with its columns, dtypes and index.

The file is pandas' Table Schema
JSON (``to_json(orient="table")``: categories, datetimes with their time zone, nullable and string
dtypes), with two changes that make the round trip exact: floats are written with Python's shortest exact repr
(pandas stops at 15 digits) and read back with ``precise_float``, and the numpy dtype of every column is
recorded under ``"dtypes"`` (Table Schema has one "integer" and one "number" type, so int32, uint8 or float32
would come back 64-bit). ``"series": {"name": ...}`` marks a saved Series, and ``"labels"`` keeps integer
column labels (Table Schema names are strings). Writing lives here too so both sides share one format (the
capture side imports it; nothing here imports from outside the runtime).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any


def dumps(value: Any) -> str:
    """The file's text for a DataFrame or Series."""
    import pandas as pd

    series = isinstance(value, pd.Series)
    frame = value.to_frame(name=value.name if value.name is not None else "values") if series else value
    labels = list(frame.columns)
    if not all(isinstance(label, str) for label in labels):  # integer labels (a headerless CSV): kept aside
        frame = frame.set_axis([str(label) for label in labels], axis=1)
    table = json.loads(frame.to_json(orient="table", date_format="iso", date_unit="ns", double_precision=15))
    for column in frame.columns:
        if frame[column].dtype.kind == "f":  # exact floats instead of pandas' 15 digits
            exact = [None if math.isnan(item) else item for item in frame[column].astype("float64").tolist()]
            for row, item in zip(table["data"], exact, strict=True):
                row[str(column)] = item
    table["dtypes"] = {str(column): str(dtype) for column, dtype in frame.dtypes.items() if dtype.kind in "iufb"}
    if frame.columns.tolist() != labels and not series:
        table["labels"] = labels
    if series:
        table["series"] = {"name": value.name if isinstance(value.name, (str, int)) else None}
    return json.dumps(table, indent=None, separators=(",", ":"), allow_nan=False)


def loads(text: str) -> Any:
    import pandas as pd

    table = json.loads(text)
    dtypes = table.pop("dtypes", {})
    series = table.pop("series", None)
    labels = table.pop("labels", None)
    frame = pd.read_json(io.StringIO(json.dumps(table)), orient="table", precise_float=True)
    for column, dtype in dtypes.items():
        if column in frame.columns and str(frame[column].dtype) != dtype:
            frame[column] = frame[column].astype(dtype)
    if labels is not None:
        frame.columns = labels
    if frame.index.name is None and frame.index.equals(pd.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)  # the default index comes back as the default index
    return frame.iloc[:, 0].rename(series["name"]) if series is not None else frame


def load(path: Path, device: Any = None) -> Any:
    return loads(path.read_text(encoding="utf-8"))
