"""At server start: can this predictor serve with adaptive batching (``--max-batch-size``)?

Batching stacks concurrent requests along dim 0 and cuts the output back into one piece per request, so
``predict`` must take a tensor or array, return one output row per input row, and treat rows
independently. Export runs the same check in a fresh process (``jupyter_deploy.versions.batchcheck``).
"""

from __future__ import annotations

from typing import Any


def problem(model: Any) -> str | None:
    """Why ``model`` (a loaded NotebookModel) cannot batch, or None when it can."""
    from .batching import concat, split
    from .compare import compare

    example = model.to_device(model.load_example_input())
    shape = getattr(example, "shape", None)
    if not hasattr(example, "dtype") or not shape:
        return f"example_input is a {type(example).__name__}, not a tensor or array with a batch dimension"
    rows = int(shape[0])
    alone = model.infer(example)
    out_shape = list(getattr(alone, "shape", []) or [])
    if not out_shape or out_shape[0] != rows:
        return f"predict(example_input) with {rows} rows returned shape {out_shape or type(alone).__name__}"
    stacked = model.infer(concat([example, example[:1]]))
    try:
        first, second = split(stacked, [rows, 1])
    except Exception:  # the batch dimension was not kept for another batch size
        return f"predict of {rows + 1} rows returned shape {list(getattr(stacked, 'shape', []))}"
    for label, actual, expected in (
        ("stacked with another request", first, alone),
        ("a row run in a batch", second, model.infer(example[:1])),
    ):
        ok, _, detail = compare(actual, expected)
        if not ok:
            return f"rows are not independent: {label} gives a different result ({detail})"
    return None
