"""Tables (CSV, Parquet, JSON Lines) to what ``predict`` receives, and its outputs back to a table.

Batch prediction (``jupyter-deploy predict`` on a laptop, ``python -m _jd_runtime.batch`` in a Kubernetes Job)
feeds a version's predictor the rows of a table. The input spec decides which columns are features:
- a DataFrame deployment takes its example's columns, by name; other columns are keys;
- a tensor or array of shape [N, F] (or a list of numeric rows, ``X[:4].tolist()``) takes F columns, in the
  file's order: every column that is not a key;
- shape [N] one column; other shapes, and JSON or list inputs, one column holding each row's value.
A chunk of rows is decoded by the request codec (``codec.to_input``, ``frames.decode_frame``), so a row of a
table is read exactly as the same row in a request. pandas and pyarrow are needed only here: a version
that runs batch jobs lists them in its requirements (``export --requirement pandas --requirement pyarrow``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
ROW_COLUMN = "row"  # the key written when the input has no key columns: the row's position in the input
SHOWN = 8


class TableError(ValueError):
    """A table does not fit the model: missing, extra or unreadable columns, or outputs that are not rows."""


def shown(names: list[str]) -> str:
    text = ", ".join(repr(name) for name in names[:SHOWN])
    return text + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


# -- files ---------------------------------------------------------------------------------------------------
def table_format(name: str) -> str | None:
    """``csv``, ``parquet`` or ``jsonl`` from a file name's suffix; None for anything else."""
    lowered = name.lower()
    return next((fmt for suffix, fmt in FORMATS.items() if lowered.endswith(suffix)), None)


def read_frame(source: Any, fmt: str, text_columns: list[str] | None = None) -> Any:
    """A DataFrame from a path or binary file object; ``text_columns`` stay text in a CSV (zip codes, ids)."""
    import pandas as pd

    if fmt == "csv":
        return pd.read_csv(source, dtype={name: object for name in text_columns or []} or None)
    if fmt == "parquet":
        return pd.read_parquet(source)
    # no date guessing, no dtype guessing beyond JSON's own numbers and strings
    return pd.read_json(source, lines=True, dtype=False, convert_dates=False)


def write_frame(frame: Any, target: Any, fmt: str) -> None:
    """Write ``frame`` (no index) to a path or binary file object."""
    if fmt == "parquet":
        write_parquet(frame, target)
        return
    if fmt == "csv":
        nested = [name for name in frame.columns if frame[name].dtype == object and _has_containers(frame[name])]
        if nested:  # lists as JSON text, which a CSV reader can parse back
            frame = frame.assign(**{name: frame[name].map(_json_text) for name in nested})
        text = frame.to_csv(index=False)
    else:  # json.dumps, not to_json: pandas rounds floats to 10 digits
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        text = "".join(json.dumps(record, ensure_ascii=False, default=_json_default) + "\n" for record in records)
    data = text.encode("utf-8")
    if hasattr(target, "write"):
        target.write(data)
    else:
        with open(target, "wb") as stream:
            stream.write(data)


def write_parquet(frame: Any, target: Any) -> None:
    """Parquet without dictionary encoding of numeric columns: predictions rarely repeat, and trying the
    dictionary first makes the write ~6x slower (26 ms instead of 4 ms for 100,000 rows of 5 columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    repeating = [field.name for field in table.schema if not pa.types.is_floating(field.type)]
    pq.write_table(table, target, use_dictionary=repeating)


def _has_containers(series: Any) -> bool:
    return any(isinstance(item, (list, dict, tuple)) or hasattr(item, "tolist") for item in series.head(16))


def _json_text(item: Any) -> Any:
    return json.dumps(plain(item)) if isinstance(item, (list, dict, tuple)) or hasattr(item, "tolist") else item


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def plain(value: Any) -> Any:
    """Arrays (Parquet list cells) as nested lists, the form a JSON request has."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


# -- columns -------------------------------------------------------------------------------------------------
def is_array(spec: dict[str, Any]) -> bool:
    """A tensor, an array, or a list of numeric rows (which the codec reads as an array): columns are features."""
    return spec.get("kind") in ("torch", "numpy") or (spec.get("kind") == "list" and bool(spec.get("shape")))


def feature_width(spec: dict[str, Any]) -> int:
    """How many columns a tensor or array spec reads: F for [N, F], else one."""
    shape = spec.get("shape") or []
    if is_array(spec) and len(shape) == 2 and shape[1] != -1:
        return int(shape[1])
    return 1


def text_columns(spec: dict[str, Any]) -> list[str]:
    """A DataFrame spec's text columns (read as text from CSV, whatever they look like)."""
    if spec.get("kind") != "dataframe":
        return []
    return [column["name"] for column in spec.get("columns") or [] if column.get("dtype") == "object"]


def split_columns(
    columns: list[Any], spec: dict[str, Any], keys: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(feature columns, key columns) of a table with ``columns``; ``keys`` None: every non-feature column."""
    columns = [str(name) for name in columns]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise TableError(f"duplicated columns {shown(duplicated)}")
    unknown = [key for key in keys or [] if key not in columns]
    if unknown:
        raise TableError(f"key columns {shown(unknown)} are not in the input (its columns: {shown(columns)})")
    if spec.get("kind") == "dataframe":
        names = [column["name"] for column in spec.get("columns") or []]
        missing = [name for name in names if name not in columns]
        if missing:
            raise TableError(f"missing feature columns {shown(missing)} (this model takes {shown(names)})")
        both = [key for key in keys or [] if key in names]
        if both:
            raise TableError(f"--key {shown(both)}: a feature of this model cannot be a key column too")
        if keys is None:
            return names, [name for name in columns if name not in names]
        extra = [name for name in columns if name not in names and name not in keys]
        if extra:
            raise TableError(
                f"unexpected columns {shown(extra)}: neither features of this model ({shown(names)}) nor keys: "
                "drop them, or name them with --key"
            )
        return names, list(keys)
    keys = list(keys or [])
    features = [name for name in columns if name not in keys]
    width = feature_width(spec)
    if len(features) != width:
        takes = f"{width} feature column{'s' if width > 1 else ''}"
        if len(features) < width:
            raise TableError(
                f"missing feature columns: this model takes {takes}, the input has {len(features)} besides the keys"
                f" ({shown(features)})"
            )
        raise TableError(
            f"unexpected columns: this model takes {takes}, the input has {len(features)} besides the keys "
            f"({shown(features)}): name the key columns with --key"
        )
    return features, keys


# -- rows in, rows out ---------------------------------------------------------------------------------------
def model_inputs(
    frame: Any, features: list[str], spec: dict[str, Any], size: int, start: int = 0, device: Any = None
) -> Iterator[tuple[int, int, Any]]:
    """(first row, rows, what predict receives) for each chunk of ``size`` rows from ``start``, decoded as a
    request with the same rows would be. A tensor or array spec's columns become one array first (a view for
    numeric columns); each chunk is still read by ``codec.to_input``, which checks its dtype and shape."""
    from . import codec

    shape = spec.get("shape") or []
    values = None
    if is_array(spec) and len(shape) <= 2:
        values = frame[features].to_numpy() if len(shape) == 2 else frame[features[0]].to_numpy()
    for first in range(start, len(frame), size):
        if values is not None:
            rows = values[first : first + size]
            yield first, len(rows), codec.to_input(rows, spec, device)
            continue
        chunk = frame.iloc[first : first + size]
        yield first, len(chunk), model_input(chunk, features, spec, device)


def model_input(chunk: Any, features: list[str], spec: dict[str, Any], device: Any = None) -> Any:
    """What predict receives for the rows of ``chunk`` (decoded as a request with the same rows would be)."""
    from . import codec

    kind = spec.get("kind", "json")
    if kind == "dataframe":
        from .frames import decode_frame

        text = set(text_columns(spec))
        data = {name: _column_values(chunk[name], name in text) for name in features}
        return decode_frame({"instances": data}, spec)
    if is_array(spec) and len(spec.get("shape") or []) <= 2:
        values = chunk[features].to_numpy() if len(spec.get("shape") or []) == 2 else chunk[features[0]].to_numpy()
        return codec.to_input(values, spec, device)
    return codec.to_input([plain(item) for item in chunk[features[0]]], spec, device)


def _column_values(series: Any, text: bool) -> list[Any]:
    """A column as the JSON list a request carries (missing text as null)."""
    if text:
        return [None if item is None or item != item else item for item in series.tolist()]
    return [plain(item) for item in series.tolist()] if series.dtype == object else series.tolist()


def prediction_part(outputs: Any, rows: int) -> Any:
    """predict's outputs for ``rows`` input rows, checked: a numpy array with ``rows`` rows, or a DataFrame.
    Arrays of consecutive chunks are joined before they become a frame (``predictions_frame``)."""
    import numpy as np
    import pandas as pd

    from .codec import to_numpy

    if isinstance(outputs, (pd.DataFrame, pd.Series, list)):
        return prediction_frame(outputs, rows)
    values = to_numpy(outputs)
    if not isinstance(values, np.ndarray) or values.ndim == 0:
        raise TableError(
            f"predict returned a {type(outputs).__name__}: batch prediction needs one output per input row "
            "(a tensor, an array, a DataFrame or a list)"
        )
    if len(values) != rows:
        raise TableError(
            f"predict returned {len(values)} rows for {rows} input rows: batch prediction needs one output row "
            "per input row"
        )
    return values


def predictions_frame(parts: list[Any]) -> Any:
    """One frame from the parts of consecutive chunks (arrays joined first: one frame, not one a chunk)."""
    import numpy as np
    import pandas as pd

    frames: list[Any] = []
    arrays: list[Any] = []
    for part in parts:
        if isinstance(part, np.ndarray) and (not arrays or part.shape[1:] == arrays[0].shape[1:]):
            arrays.append(part)
            continue
        if arrays:
            joined = np.concatenate(arrays)
            frames.append(prediction_frame(joined, len(joined)))
            arrays = []
        if isinstance(part, np.ndarray):
            arrays.append(part)
        else:
            frames.append(part)
    if arrays:
        joined = np.concatenate(arrays)
        frames.append(prediction_frame(joined, len(joined)))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def prediction_frame(outputs: Any, rows: int) -> Any:
    """predict's outputs for ``rows`` input rows as a DataFrame of ``rows`` rows (one column per output)."""
    import numpy as np
    import pandas as pd

    from .codec import to_numpy

    if isinstance(outputs, pd.DataFrame):
        frame = outputs.reset_index(drop=True)
        frame.columns = [str(name) for name in frame.columns]
    elif isinstance(outputs, pd.Series):
        frame = pd.DataFrame({str(outputs.name) if outputs.name is not None else "prediction": outputs.to_numpy()})
    elif isinstance(outputs, list) and outputs and all(isinstance(item, dict) for item in outputs):
        frame = pd.DataFrame.from_records(outputs)
        frame.columns = [str(name) for name in frame.columns]
    elif isinstance(outputs, list):
        frame = pd.DataFrame({"prediction": pd.Series([plain(item) for item in outputs], dtype=object)})
        frame["prediction"] = frame["prediction"].infer_objects()
    else:
        values = to_numpy(outputs)
        if not isinstance(values, np.ndarray) or values.ndim == 0:
            raise TableError(
                f"predict returned a {type(outputs).__name__}: batch prediction needs one output per input row "
                "(a tensor, an array, a DataFrame or a list)"
            )
        if values.ndim == 1:
            frame = pd.DataFrame({"prediction": values})
        elif values.ndim == 2:
            frame = pd.DataFrame(values, columns=[f"prediction_{index}" for index in range(values.shape[1])])
        else:
            frame = pd.DataFrame({"prediction": pd.Series(list(values.tolist()), dtype=object)})
    if len(frame) != rows:
        raise TableError(
            f"predict returned {len(frame)} rows for {rows} input rows: batch prediction needs one output row "
            "per input row"
        )
    return frame


def output_frame(keys: Any, predictions: Any) -> Any:
    """Key columns, then predictions (a prediction named like a key becomes ``prediction_NAME``)."""
    import pandas as pd

    taken = set(keys.columns)
    renamed = {name: f"prediction_{name}" for name in predictions.columns if name in taken}
    clash = [new for new in renamed.values() if new in taken or new in predictions.columns]
    if clash:
        raise TableError(f"prediction columns {shown(clash)} clash with the key columns: choose others with --key")
    predictions = predictions.rename(columns=renamed)
    return pd.concat([keys.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)


def key_frame(frame: Any, keys: list[str], start: int = 0) -> Any:
    """The key columns of ``frame``, or the rows' positions (from ``start``) when there are none."""
    import numpy as np
    import pandas as pd

    if keys:
        return frame[keys].reset_index(drop=True)
    return pd.DataFrame({ROW_COLUMN: np.arange(start, start + len(frame), dtype=np.int64)})
