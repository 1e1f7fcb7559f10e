"""pandas DataFrames on the wire: requests -> the frame predict receives, frames and Series -> responses.

A deployment whose ``example_input`` is a DataFrame takes, in a v1 body (``instances``, ``inputs``, or
MLflow's ``dataframe_records`` / ``dataframe_split``):
- records: ``[{"col": value, ...}, ...]``;
- split: ``{"columns": [...], "data": [[...], ...]}`` (``index`` is ignored);
- columnar: ``{"col": [values], ...}``;
- rows of values in the example's column order: ``[[...], ...]``;
and in a v2 body one input per column, named after it, of shape ``[N]`` or ``[N, 1]`` (BYTES for text).
predict then receives a frame with the example's columns, in its order, with its dtypes (categories
included). Missing or unexpected columns, or values a column's dtype cannot hold, are ``InvalidInput``
(HTTP 400) with a message that names them.
"""

from __future__ import annotations

from typing import Any

from kserve.errors import InvalidInput

V1_KEYS = ("instances", "inputs", "dataframe_split", "dataframe_records")
SHOWN = 8


def decode_frame(payload: Any, spec: dict[str, Any]) -> Any:
    """The DataFrame predict receives for a v1 (dict) or v2 (``InferRequest``) request."""
    columns = spec.get("columns") or []
    names = [column["name"] for column in columns]
    values = _v1_columns(payload, names) if isinstance(payload, dict) else _v2_columns(payload, names)
    return _frame(values, columns)


def _v1_columns(payload: dict[str, Any], names: list[str]) -> dict[str, list[Any]]:
    key = next((key for key in V1_KEYS if key in payload), None)
    if key is None:
        raise InvalidInput(
            "a v1 request for this model is a JSON object with 'instances': a list of records "
            f'({{"{names[0] if names else "column"}": ...}}) or {{"columns": [...], "data": [[...]]}}'
        )
    data = payload[key]
    if isinstance(data, dict):
        if "columns" in data and "data" in data:
            return _split(data, names)
        _check_names(list(data), names)
        lengths = {len(value) if isinstance(value, list) else -1 for value in data.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise InvalidInput("columnar inputs must be lists of the same length, one per column")
        return {name: data[name] for name in names}
    if not isinstance(data, list) or not data:
        raise InvalidInput(f"'{key}' must be a non-empty list of records (objects with the columns {_shown(names)})")
    if all(isinstance(row, dict) for row in data):
        return _records(data, names)
    if all(isinstance(row, list) for row in data):
        return _rows(data, names)
    raise InvalidInput(f"'{key}' must hold records (objects keyed by column) or rows (lists), not a mixture")


def _records(records: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    expected = set(names)
    if any(row.keys() != expected for row in records):
        seen: set[str] = set()
        for row in records:
            seen.update(row)
        missing = [name for name in names if any(name not in row for row in records)]
        _check_names(sorted(seen), names, missing)
    return {name: [row[name] for row in records] for name in names}


def _rows(rows: list[list[Any]], names: list[str]) -> dict[str, list[Any]]:
    for row in rows:
        if len(row) != len(names):
            raise InvalidInput(
                f"each row must have {len(names)} values, in the order {_shown(names)}; got a row of {len(row)}"
            )
    return {name: [row[position] for row in rows] for position, name in enumerate(names)}


def _split(data: dict[str, Any], names: list[str]) -> dict[str, list[Any]]:
    columns, rows = data["columns"], data["data"]
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise InvalidInput("'columns' must be a list of column names")
    if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == len(columns) for row in rows):
        raise InvalidInput(f"'data' must be a list of rows of {len(columns)} values (one per entry of 'columns')")
    _check_names(columns, names)
    position = {name: index for index, name in enumerate(columns)}
    return {name: [row[position[name]] for row in rows] for name in names}


def _v2_columns(payload: Any, names: list[str]) -> dict[str, Any]:
    inputs = getattr(payload, "inputs", None)
    if inputs is None:
        raise InvalidInput(f"unsupported request body of type {type(payload).__name__}")
    _check_names([tensor.name for tensor in inputs], names)
    values: dict[str, Any] = {}
    for tensor in inputs:
        try:
            array = tensor.as_numpy()
        except Exception as error:  # kserve raises several types for inconsistent tensors
            raise InvalidInput(f"input tensor {tensor.name!r} is invalid: {error}") from None
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidInput(f"input {tensor.name!r} must have shape [N] or [N, 1] (one column), got {tensor.shape}")
        if array.dtype == object:
            array = [item.decode("utf-8") if isinstance(item, bytes) else item for item in array]
        values[tensor.name] = array
    lengths = {len(value) for value in values.values()}
    if len(lengths) > 1:
        raise InvalidInput(f"all inputs must have the same number of rows, got {sorted(lengths)}")
    return {name: values[name] for name in names}


def _check_names(got: list[str], names: list[str], missing: list[str] | None = None) -> None:
    duplicated = sorted({name for name in got if got.count(name) > 1})
    missing = missing if missing is not None else [name for name in names if name not in got]
    unexpected = [name for name in got if name not in set(names)]
    problems = []
    if missing:
        problems.append(f"missing columns {_shown(missing)}")
    if unexpected:
        problems.append(f"unexpected columns {_shown(unexpected)}")
    if duplicated:
        problems.append(f"duplicated columns {_shown(duplicated)}")
    if problems:
        raise InvalidInput(f"{'; '.join(problems)} (this model takes {_shown(names)})")


def _shown(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _frame(values: dict[str, Any], columns: list[dict[str, Any]]) -> Any:
    import pandas as pd

    data = {}
    for column, dtype in zip(columns, _dtypes(columns), strict=True):
        name = column["name"]
        try:
            data[name] = _column(values[name], column, dtype)
        except InvalidInput:
            raise
        except (ValueError, TypeError, OverflowError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InvalidInput(f"column {name!r} cannot be read as {column['dtype']}: {reason}") from None
    rows = len(next(iter(data.values()))) if data else 0
    # ``data`` is already in the example's order: passing ``columns=`` too would make pandas reindex (~200 us)
    frame = pd.DataFrame(data, index=pd.RangeIndex(rows), copy=False)
    if any("label" in column for column in columns):  # integer labels, as the example had them
        frame.columns = [column.get("label", column["name"]) for column in columns]
    return frame


_DTYPES: dict[int, tuple[list[dict[str, Any]], list[Any]]] = {}


def _dtypes(columns: list[dict[str, Any]]) -> list[Any]:
    """The columns' pandas dtypes, parsed once per spec (``pandas_dtype`` costs ~10 us a column)."""
    import pandas as pd

    cached = _DTYPES.get(id(columns))
    if cached is None or cached[0] is not columns:
        cached = (columns, [pd.api.types.pandas_dtype(column["dtype"]) for column in columns])
        _DTYPES[id(columns)] = cached
    return cached[1]


def _column(values: Any, column: dict[str, Any], dtype: Any) -> Any:
    import numpy as np
    import pandas as pd

    name = column["name"]
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical(values, column)
    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        if kind == "O":
            if not all(isinstance(item, str) or item is None for item in values):
                raise InvalidInput(f"column {name!r} takes strings")
            return np.array(values, dtype=object)
        if kind == "b":
            array = _one_per_row(np.asarray(values), column)
            if array.dtype.kind != "b":
                raise InvalidInput(f"column {name!r} takes booleans (true/false)")
            return array
        if kind in "iu":
            array = _one_per_row(np.asarray(values), column)
            if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
                raise InvalidInput(f"column {name!r} takes whole numbers")
            if array.dtype.kind not in "iufb":
                raise InvalidInput(f"column {name!r} takes whole numbers")
            return array.astype(dtype)
        if kind == "f":
            array = _one_per_row(np.asarray(values), column)
            if array.dtype.kind not in "iufb":
                array = np.array([np.nan if item is None else item for item in values], dtype=np.float64)
            return array.astype(dtype)
        if kind == "M":
            return pd.to_datetime(pd.Series(values), format="ISO8601").astype(dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        stamps = pd.to_datetime(pd.Series(values), format="ISO8601")
        stamps = stamps.dt.tz_localize(dtype.tz) if stamps.dt.tz is None else stamps.dt.tz_convert(dtype.tz)
        return stamps.astype(dtype)
    return pd.array(values, dtype=dtype)


def _one_per_row(array: Any, column: dict[str, Any]) -> Any:
    """``array`` when it holds one value per row: numpy reads rows that all hold a list as a second dimension,
    which no column can hold (pandas refuses it with an error that would be a 500)."""
    if array.ndim != 1:
        raise InvalidInput(f"column {column['name']!r} takes one {column['dtype']} value per row, not a list")
    return array


def _categorical(values: Any, column: dict[str, Any]) -> Any:
    import pandas as pd

    categories = column.get("categories")
    if categories is None:
        return pd.Categorical(values)
    result = pd.Categorical(values, categories=categories, ordered=bool(column.get("ordered")))
    unknown = sorted(
        {str(item) for item, code in zip(values, result.codes, strict=True) if code < 0 and item is not None}
    )
    if unknown:
        raise InvalidInput(
            f"column {column['name']!r} has values outside its categories: {_shown(unknown)} "
            f"(it takes {_shown([str(item) for item in categories])})"
        )
    return result


# -- outputs -------------------------------------------------------------------------------------------


def is_pandas(value: Any) -> bool:
    import sys

    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series))


def jsonable(value: Any) -> Any:
    """v1: a DataFrame as records, a Series as a list; missing values as null, datetimes as ISO text."""
    import pandas as pd

    if isinstance(value, pd.Series):
        return _plain_list(value)
    names = [str(name) for name in value.columns]
    columns = [_plain_list(value[name]) for name in value.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _plain_list(series: Any) -> list[Any]:
    import pandas as pd

    if series.dtype.kind == "M" or isinstance(series.dtype, pd.DatetimeTZDtype):
        return [None if pd.isna(item) else item.isoformat() for item in series]
    if series.dtype.kind == "f":
        return [None if item != item else item for item in series.tolist()]
    return [None if _missing(item) else item for item in series.tolist()]


def _missing(item: Any) -> bool:
    import pandas as pd

    return item is None or (not isinstance(item, (str, bytes, list, dict)) and bool(pd.isna(item)))


def v2_arrays(value: Any) -> list[tuple[str, Any]]:
    """v2: one (name, numpy array) per column of a DataFrame; a Series is one output named after it."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.Series):
        items = [(str(value.name) if value.name is not None else "output-0", value)]
    else:
        items = [(str(name), value[name]) for name in value.columns]
    arrays = []
    for name, series in items:
        if series.dtype.kind in "iufb" and isinstance(series.dtype, np.dtype):
            arrays.append((name, series.to_numpy()))
        else:
            arrays.append(
                (name, np.array(["" if item is None else str(item) for item in _plain_list(series)], dtype=object))
            )
    return arrays
