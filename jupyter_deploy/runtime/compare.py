"""Comparing a predictor's output with the notebook's: arrays, tensors, frames, labels, plain values.

Used at export (the parity and batching checks) and at serve time (the batching check at start-up), so it
lives in the runtime that every version carries.
"""

from __future__ import annotations

import sys
from typing import Any

RTOL, ATOL = 1e-4, 1e-5


def compare(actual: Any, expected: Any) -> tuple[bool, float | None, str]:
    import numpy as np

    if _is_frame(actual) or _is_frame(expected):
        return _compare_frames(actual, expected)

    def as_array(value: Any) -> Any:
        if hasattr(value, "detach"):
            return value.detach().cpu().numpy()
        return np.asarray(value) if isinstance(value, np.ndarray) else value

    actual, expected = as_array(actual), as_array(expected)
    if isinstance(actual, np.ndarray) or isinstance(expected, np.ndarray):
        actual, expected = np.asarray(actual), np.asarray(expected)
        if actual.shape != expected.shape:
            return False, None, f"shape {list(actual.shape)} instead of the notebook's {list(expected.shape)}"
        if actual.size == 0:
            return True, 0.0, ""
        if actual.dtype.kind in "fciub" and expected.dtype.kind in "fciub":
            gaps = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
            diff = float(np.nanmax(gaps)) if not np.isnan(gaps).all() else 0.0
            ok = bool(np.allclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True))
            return ok, diff, "" if ok else f"values differ by up to {diff:.3g}"
        ok = bool(np.array_equal(actual, expected))
        return ok, None, "" if ok else "values differ"
    ok = actual == expected
    return bool(ok), None, "" if ok else f"{actual!r} instead of the notebook's {expected!r}"


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series))


def _compare_frames(actual: Any, expected: Any) -> tuple[bool, float | None, str]:
    """DataFrames: the same columns in the same order, then each column's values (the index is not compared:
    a predictor may build a fresh one). A Series compares as its values."""
    import pandas as pd

    if isinstance(expected, pd.DataFrame) != isinstance(actual, pd.DataFrame):
        kinds = [type(value).__name__ for value in (actual, expected)]
        return False, None, f"a {kinds[0]} instead of the notebook's {kinds[1]}"
    if not isinstance(expected, pd.DataFrame):
        return compare(_column_values(pd.Series(actual)), _column_values(pd.Series(expected)))
    if list(actual.columns) != list(expected.columns):
        return False, None, f"columns {list(actual.columns)} instead of the notebook's {list(expected.columns)}"
    worst: float | None = None
    for column in expected.columns:
        ok, diff, detail = compare(_column_values(actual[column]), _column_values(expected[column]))
        if not ok:
            return False, diff, f"column {column!r}: {detail}"
        if diff is not None:
            worst = diff if worst is None else max(worst, diff)
    return True, worst if worst is not None else (0.0 if len(expected) else None), ""


def _column_values(series: Any) -> Any:
    """Numbers as a float array (missing values as NaN), anything else as text (missing as None)."""
    import numpy as np

    if series.dtype.kind in "iufb":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array([None if item is None or item != item else str(item) for item in series], dtype=object)
