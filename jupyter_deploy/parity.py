"""The parity check: import a new predictor in a fresh process and compare its output with the notebook's.

The reference is what the notebook computed in the kernel (``artifacts/example_output.*``) or, for a
saved notebook exported without a kernel, the notebook's own cells run as a plain script.
Run as ``python -m jupyter_deploy.parity VERSION_DIR [REFERENCE_SCRIPT]``; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .models import Parity

RTOL, ATOL = 1e-4, 1e-5


def run_parity(version_dir: Path, reference_script: Path | None = None, timeout: float = 300) -> Parity:
    """Run the check in a subprocess; a crash there is a failed check whose detail is the error."""
    version_dir = Path(version_dir).resolve()
    command = [sys.executable, "-m", "jupyter_deploy.parity", str(version_dir)]
    if reference_script is not None:
        command.append(str(Path(reference_script).resolve()))
    start = time.perf_counter()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=version_dir, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return Parity(status="failed", detail=f"the predictor did not answer within {timeout:.0f} s")
    elapsed = round(time.perf_counter() - start, 3)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-6:]
        return Parity(status="failed", detail="the predictor failed in a fresh process:\n" + "\n".join(tail))
    result = Parity.model_validate_json(lines[-1])
    result.seconds = elapsed
    return result


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


def _main(version_dir: str, reference_script: str | None = None) -> int:
    from .batchcheck import load_predictor_class

    directory = Path(version_dir)
    model = load_predictor_class(directory)()
    model.load()
    actual = model.infer(model.to_device(model.load_example_input()))
    if reference_script is not None:
        namespace: dict[str, Any] = {"__name__": "_jd_reference"}
        exec(compile(Path(reference_script).read_text(), reference_script, "exec"), namespace)
        expected = namespace["_jd_reference"]
    else:
        from .runtime.artifacts import load_artifact

        outputs = sorted((directory / "artifacts").glob("example_output.*"))
        if not outputs:
            print(json.dumps({"status": "skipped", "detail": "no reference output"}))
            return 0
        expected = load_artifact(outputs[0])
    ok, diff, detail = compare(actual, expected)
    print(json.dumps({"status": "passed" if ok else "failed", "max_abs_diff": diff, "detail": detail}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:3]))
