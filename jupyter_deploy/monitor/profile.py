"""Reference profiles: what the inputs and outputs a version was built on look like, saved inside the version.

``artifacts/reference_profile.json`` describes, feature by feature (``runtime/payload_rows.table``'s columns:
a DataFrame's columns, an array's columns), the inputs and the outputs:
- numeric: count, missing, mean, std, min, max, 101 percentiles, and a histogram (``edges`` and ``counts``;
  ``counts`` has one bin more on each side, below the first edge and from the last one on, so that values
  outside the reference's range have a bin). Up to ``DISCRETE_MAX`` distinct values are kept exactly
  (``values``; one bin each);
- categorical (text, bools, anything else): count, missing, distinct, the ``TOP`` most frequent values with
  their counts and the count of the rest; mostly-unique text also gets a numeric ``NAME#length`` feature.

The inputs are ``reference_input`` (a ``%%deploy reference`` cell) or ``export --reference VAR`` when given,
else ``example_input``; the outputs are the pipeline's predictions on (a sample of) that reference, else
``example_output``. The file is written before the version's hash is taken: it is part of the version, and
the same data gives the same bytes (no timestamps, deterministic sampling).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..exceptions import CaptureError
from ..versions.pipeline import pipeline_roles, run_steps

PROFILE_FILE = "reference_profile.json"
FORMAT = "jupyter-deploy/reference-profile@1"
MAX_ROWS = 100_000  # rows of the reference profiled (evenly spaced when there are more)
OUTPUT_ROWS = 2_000  # rows of the reference run through the pipeline for the output profile
CHUNK = 256
BINS = 20
DISCRETE_MAX = 20
TOP = 50
PERCENTILES = 101
REFERENCE_VARIABLE = "reference_input"


def write_reference_profile(
    directory: Path,
    deployment: Any,
    example: tuple[Any, Any] | None,
    namespace: dict[str, Any] | None,
    reference: str | None = None,
) -> Path | None:
    """Profile the example (or the reference frame) into ``directory/reference_profile.json``.

    ``example``: (example_input, what the notebook computed) in a live export; None in a static one, which
    reads the example files it just wrote. ``reference``: ``--reference VAR``.
    """
    inputs, outputs = example if example is not None else _saved_example(directory)
    if inputs is None:
        return None
    source, frame = _reference(deployment, namespace or {}, reference)
    input_source, input_value = (source, frame) if frame is not None else ("example_input", inputs)
    output_source, output_value = "example_output", outputs
    if frame is not None:
        predicted, note = _predict_reference(deployment, namespace or {}, frame)
        if predicted is not None:
            output_source, output_value = f"predictions on {source} ({note})", predicted
        else:
            output_source = f"example_output ({note})"
    profile = {
        "format": FORMAT,
        "inputs": profile_value(input_value, input_source),
        "outputs": profile_value(output_value, output_source) if output_value is not None else None,
    }
    path = directory / PROFILE_FILE
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_profile(version_dir: Path) -> dict[str, Any] | None:
    path = version_dir / "artifacts" / PROFILE_FILE
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def profile_value(value: Any, source: str, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """One value (an input batch, a reference frame, outputs) profiled column by column."""
    from ..runtime.payload_rows import Table, table

    total: int | None
    if isinstance(value, Table):  # already tabulated (predictions gathered chunk by chunk)
        total, columns = value.rows, value
    else:
        total = _length(value)
        columns = table(_sample(value, max_rows) if total is not None and total > max_rows else value)
    features: list[dict[str, Any]] = []
    for name, column in zip(columns.names, columns.values, strict=True):
        features.extend(profile_column(name, column))
    return {
        "source": source,
        "rows": total if total is not None else columns.rows,
        "profiled_rows": columns.rows,
        "total_features": columns.total_features,
        "features": features,
    }


def profile_column(name: str, column: Any) -> list[dict[str, Any]]:
    """The feature (and any derived one) a column gives."""
    import numpy as np

    if not isinstance(column, list):
        return [numeric_feature(name, np.asarray(column, dtype=np.float64))]
    present = [item for item in column if item is not None]
    if present and all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in present):
        return [numeric_feature(name, np.asarray([np.nan if i is None else i for i in column], dtype=float))]
    feature = categorical_feature(name, column)
    features = [feature]
    if present and all(isinstance(item, str) for item in present) and feature["distinct"] > max(TOP, len(present) // 2):
        lengths = np.asarray([np.nan if item is None else len(str(item)) for item in column], dtype=float)
        features.append({**numeric_feature(f"{name}#length", lengths), "derived_from": name, "transform": "length"})
    return features


def numeric_feature(name: str, values: Any) -> dict[str, Any]:
    import numpy as np

    finite = values[np.isfinite(values)]
    feature: dict[str, Any] = {"name": name, "kind": "numeric", "count": int(finite.size)}
    feature["missing"] = int(values.size - finite.size)
    if finite.size == 0:
        return feature
    feature.update(
        mean=_num(finite.mean()),
        std=_num(finite.std()),
        min=_num(finite.min()),
        max=_num(finite.max()),
        percentiles=[_num(q) for q in np.quantile(finite, np.linspace(0, 1, PERCENTILES))],
    )
    distinct = np.unique(finite)
    if distinct.size <= DISCRETE_MAX:
        gap = float(np.diff(distinct).min()) if distinct.size > 1 else max(abs(float(distinct[0])), 1.0)
        edges = np.concatenate([[distinct[0] - gap / 2], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + gap / 2]])
        feature["values"] = [_num(v) for v in distinct]
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)))
        edges[-1] = np.nextafter(edges[-1], np.inf)  # the maximum inside the last bin, not past it
    feature["histogram"] = {"edges": [_num(e) for e in edges], "counts": bin_counts(edges, finite).tolist()}
    return feature


def bin_counts(edges: Any, values: Any) -> Any:
    """Counts over the bins (-inf, e0), [e0, e1), ..., [e_last, inf): len(edges) + 1 bins."""
    import numpy as np

    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def categorical_feature(name: str, column: list[Any]) -> dict[str, Any]:
    from collections import Counter

    present = [category_text(item) for item in column if item is not None]
    counts = Counter(present)
    top = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP]
    return {
        "name": name,
        "kind": "categorical",
        "count": len(present),
        "missing": len(column) - len(present),
        "distinct": len(counts),
        "frequencies": dict(top),
        "other": len(present) - sum(count for _, count in top),
    }


def category_text(item: Any) -> str:
    """How a category is keyed in profiles and compared in logs (JSON has no bytes, tuples or numpy)."""
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    return str(item)


def _num(value: Any) -> float:
    number = float(value)
    return round(number, 12) if abs(number) < 1e300 else number


def _length(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def _sample(value: Any, count: int) -> Any:
    """``count`` rows evenly spaced through ``value`` (deterministic: the same data, the same profile)."""
    import numpy as np

    total = _length(value) or 0
    indices = np.linspace(0, total - 1, count).round().astype(np.int64)
    if hasattr(value, "iloc"):
        return value.iloc[indices]
    if isinstance(value, (list, tuple)):
        return [value[int(i)] for i in indices]
    if hasattr(value, "detach"):
        import torch

        return value[torch.from_numpy(indices)]
    return value[indices]


def _reference(deployment: Any, namespace: dict[str, Any], reference: str | None) -> tuple[str, Any]:
    """(its name, the reference frame) from ``--reference VAR`` or a reference cell; (name, None) when none."""
    name = reference or (REFERENCE_VARIABLE if deployment.role("reference") else None)
    if name is None:
        return "example_input", None
    if not namespace:
        if reference:
            raise CaptureError(
                f"--reference {reference} needs the kernel the notebook ran in: export with --execute, or "
                f"'%deploy export --reference {reference}' in the notebook",
                reference,
            )
        return "example_input", None  # a static export: the reference cell's data needs a kernel
    if name not in namespace:
        where = f"--reference {name}" if reference else "the reference cell"
        raise CaptureError(f"{where}: {name!r} is not defined in the kernel: run the cell that defines it first", name)
    value = namespace[name]
    if _length(value) is None:
        raise CaptureError(
            f"the reference {name!r} is a {type(value).__name__}: give a DataFrame, an array, a tensor or a list "
            "of rows (the data the model was trained on, in example_input's form)",
            name,
        )
    return name, value


def _predict_reference(deployment: Any, namespace: dict[str, Any], frame: Any) -> tuple[Any, str]:
    """The pipeline's outputs on up to ``OUTPUT_ROWS`` rows of the reference, in chunks; (None, why) if that
    cannot be done (rows that are not independent, a predict that refuses a batch of that size)."""
    import numpy as np

    from ..runtime.payload_rows import Table, table

    steps = [namespace.get(role) for role in pipeline_roles(deployment)]
    if not steps or any(not callable(step) for step in steps):
        return None, "no predict function in the kernel"
    total = _length(frame) or 0
    sample = _sample(frame, OUTPUT_ROWS) if total > OUTPUT_ROWS else frame
    rows = _length(sample) or 0
    parts = []
    try:
        for start in range(0, rows, CHUNK):
            value = sample[start : start + CHUNK] if not hasattr(sample, "iloc") else sample.iloc[start : start + CHUNK]
            value = run_steps(steps, value)
            part = table(value)
            if part.rows != min(CHUNK, rows - start):
                return None, "predict does not return one output row per input row"
            parts.append(part)
    except Exception as error:  # the notebook's code: any failure means no output profile from the reference
        return None, f"predict failed on the reference: {type(error).__name__}: {str(error)[:120]}"
    if not parts:
        return None, "the reference is empty"
    values = []
    for index in range(len(parts[0].names)):
        pieces = [part.values[index] for part in parts]
        values.append(
            np.concatenate(pieces) if not isinstance(pieces[0], list) else [x for piece in pieces for x in piece]
        )
    return Table(parts[0].names, values, rows, parts[0].total_features), f"{rows} rows"


def _saved_example(directory: Path) -> tuple[Any, Any]:
    """A static export's example, read back from the files it wrote (None, None when there is none)."""
    from ..runtime.artifacts import load_artifact

    values = []
    for stem in ("example_input", "example_output"):
        found = sorted(directory.glob(f"{stem}.*")) if directory.is_dir() else []
        try:
            values.append(load_artifact(found[0]) if found else None)
        except Exception:  # an example the runtime cannot read back is no profile, not a failed export
            values.append(None)
    return values[0], values[1]
