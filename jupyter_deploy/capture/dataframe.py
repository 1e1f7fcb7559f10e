"""pandas DataFrames and Series as ``.frame.json``: columns, dtypes and index kept (``runtime/loaders/dataframe``).

Only what JSON carries without guessing: column names must be strings or integers, and an ``object`` column must hold
strings (a column mixing strings and numbers would come back as something else).
"""

from __future__ import annotations

from typing import Any

from ..exceptions import CaptureError
from .base import CaptureContext, Saved, loaded


def accepts(value: Any) -> bool:
    pandas = loaded("pandas")
    return pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series))


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    from ..runtime.loaders.dataframe import dumps

    check_frame(name, value)
    filename = f"{name}.frame.json"
    try:
        text = dumps(value)
    except (ValueError, TypeError, OverflowError) as error:
        raise CaptureError(f"{name!r} cannot be saved as JSON: {error}", name) from None
    (context.directory / filename).write_text(text + "\n", encoding="utf-8")
    return Saved(filename, modules=frozenset({"pandas"}))


def check_frame(name: str, value: Any) -> None:
    """``CaptureError`` for what the JSON round trip would change: non-string names, mixed object columns."""
    import pandas as pd

    frame = value.to_frame() if isinstance(value, pd.Series) else value
    if isinstance(value, pd.DataFrame):
        if isinstance(frame.columns, pd.MultiIndex):
            raise CaptureError(f"{name!r} has multi-level columns: flatten them to strings first", name)
        odd = [repr(column) for column in frame.columns if not _plain_label(column)]
        if odd:
            raise CaptureError(
                f"{name!r} has column names that are neither strings nor integers ({', '.join(odd[:5])}): rename "
                f"them, e.g. {name}.columns = {name}.columns.astype(str)",
                name,
            )
        as_text = pd.Index([str(column) for column in frame.columns])
        if as_text.duplicated().any():
            duplicated = sorted(set(as_text[as_text.duplicated()]))
            raise CaptureError(f"{name!r} has duplicated columns {duplicated}: rename them", name)
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            inferred = pd.api.types.infer_dtype(series, skipna=True)
            if inferred not in ("string", "empty"):
                label = f"column {column!r} of {name!r}" if isinstance(value, pd.DataFrame) else repr(name)
                raise CaptureError(
                    f"{label} holds values of mixed types ({inferred}); give it one type, e.g. "
                    f".astype(str) or pd.to_numeric(...)",
                    name,
                )


def _plain_label(column: Any) -> bool:
    """Strings, or integers (a headerless CSV's columns): requests name them as text ("3")."""
    import numbers

    return isinstance(column, str) or (isinstance(column, numbers.Integral) and not isinstance(column, bool))
