"""What a predictor's input looks like, derived from ``example_input`` (no kserve import: export uses it)."""

from __future__ import annotations

import sys
from typing import Any


def spec_of(value: Any) -> dict[str, Any]:
    """How requests map to predict's input, derived from ``example_input``."""
    torch = sys.modules.get("torch")
    numpy = sys.modules.get("numpy")
    pandas = sys.modules.get("pandas")
    if torch is not None and isinstance(value, torch.Tensor):
        return {"kind": "torch", "dtype": str(value.dtype).removeprefix("torch."), "shape": [-1, *value.shape[1:]]}
    if numpy is not None and isinstance(value, numpy.ndarray):
        return {"kind": "numpy", "dtype": str(value.dtype), "shape": [-1, *value.shape[1:]]}
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return {"kind": "dataframe", "columns": [_column_spec(name, value[name].dtype) for name in value.columns]}
    if isinstance(value, (list, tuple)):
        return {"kind": "list"}
    return {"kind": "json"}


def _column_spec(name: Any, dtype: Any) -> dict[str, Any]:
    """A column's name and dtype; a categorical one also its categories (their codes must match the example's)."""
    spec: dict[str, Any] = {"name": str(name), "dtype": str(dtype)}
    if not isinstance(name, str):
        spec["label"] = int(name)  # the frame's own label; requests name the column as text
    categories = getattr(dtype, "categories", None)
    if categories is not None:
        listed = categories.tolist()
        if all(isinstance(item, (str, int, float, bool)) for item in listed):
            spec["categories"] = listed
            spec["ordered"] = bool(dtype.ordered)
    return spec
