"""What a predictor's input looks like, derived from ``example_input`` (no kserve import: export uses it)."""

from __future__ import annotations

import sys
from typing import Any


def spec_of(value: Any) -> dict[str, Any]:
    """How requests map to predict's input, derived from ``example_input``."""
    torch = sys.modules.get("torch")
    numpy = sys.modules.get("numpy")
    if torch is not None and isinstance(value, torch.Tensor):
        return {"kind": "torch", "dtype": str(value.dtype).removeprefix("torch."), "shape": [-1, *value.shape[1:]]}
    if numpy is not None and isinstance(value, numpy.ndarray):
        return {"kind": "numpy", "dtype": str(value.dtype), "shape": [-1, *value.shape[1:]]}
    if isinstance(value, (list, tuple)):
        return {"kind": "list"}
    return {"kind": "json"}
