"""What a predictor's input looks like, derived from ``example_input`` (no kserve import: export uses it)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
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
    if isinstance(value, list):
        # rows of numbers (``X[:4].tolist()``) are checked like the array they are; predict still gets a list
        return {"kind": "list", **numeric_list_spec(value)}
    if isinstance(value, tuple):
        return {"kind": "list"}
    return {"kind": "json"}


def with_free_dims(spec: dict[str, Any], inputs: Iterable[tuple[tuple[int, ...], frozenset[int]]]) -> dict[str, Any]:
    """``spec`` with ``-1`` for each dimension that the module inputs of the example's shape all take at any size.

    ``inputs``: the torch modules' tensor inputs as predict called them on ``example_input`` (their shape after the
    batch dimension and their free dimensions, ``capture.torch_dims``). An example that no module receives as it
    is (predict reshapes it first) keeps its sizes: nothing says which of them are free.
    """
    shape = spec.get("shape")
    if not shape:
        return spec
    matching = [free for rest, free in inputs if list(rest) == shape[1:]]
    if not matching:
        return spec
    free = frozenset.intersection(*matching)
    return {**spec, "shape": [-1 if dim == 0 or dim in free else size for dim, size in enumerate(shape)]}


INT64 = (-(2**63), 2**63 - 1)


def numeric_list_spec(value: list[Any]) -> dict[str, Any]:
    """``{"dtype", "shape"}`` of a non-empty rectangular (nested) list of numbers, batch dimension -1;
    ``{}`` for anything else (text, ragged rows, mixed types, bools): such a list is passed on unchecked."""
    shape: list[int] = []
    level: list[Any] = value
    while level and isinstance(level[0], list):
        width = len(level[0])
        if width == 0 or any(not isinstance(item, list) or len(item) != width for item in level):
            return {}
        shape.append(width)
        level = [item for row in level for item in row]
    if not level or not all(type(item) in (int, float) or isinstance(item, float) for item in level):
        return {}  # bools and other int subclasses are not features of a numeric array
    whole = all(isinstance(item, int) for item in level)
    if whole and not all(INT64[0] <= item <= INT64[1] for item in level):
        return {}
    return {"dtype": "int64" if whole else "float64", "shape": [-1, *shape]}


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
