"""Retraining overhead: the same training cells as a plain Python script vs ``jupyter-deploy retrain``.

Side by side in one run, in a temporary project:
- ``script``: the notebook's cells (magic lines dropped) as ``python train.py`` in a fresh process;
- ``retrain``: ``retrain()`` in this process (papermill and MLflow already imported, as in a long-lived
  server or a warm CLI), a no-op promotion: the run reproduces the current version (same content, same
  version), so the overhead is papermill + kernel + MLflow run + the export's capture and hash check;
- ``retrain CLI``: the same as a fresh ``jupyter-deploy retrain`` process (its imports included), once;
- per extra cell: the same notebook with EXTRA trivial cells added, divided by EXTRA.

Targets (issue 5): overhead <= 2.0 s, <= 10 ms per extra trivial cell. Run: python benchmarks/retrain.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

PARAMETERS = "# parameters\nepochs = 200\nlearning_rate = 0.5\nseed = 0"
CELLS = [
    "import numpy as np",
    "rng = np.random.default_rng(seed)\nX = rng.normal(size=(2000, 8))\ntrue_w = rng.normal(size=8)\n"
    "y = (X @ true_w > 0).astype(float)\nX_train, X_val, y_train, y_val = X[:1600], X[1600:], y[:1600], y[1600:]",
    "w = np.zeros(8)\nfor _ in range(epochs):\n    p = 1 / (1 + np.exp(-(X_train @ w)))\n"
    "    w -= learning_rate * X_train.T @ (p - y_train) / len(y_train)\n"
    "val_accuracy = float(((X_val @ w > 0) == y_val).mean())\nprint('val_accuracy', val_accuracy)",
    "%%deploy example --name bench\nexample_input = X_val[:4]",
    "%%deploy predict --name bench\ndef predict(x):\n    return (np.asarray(x) @ w > 0).astype(int)",
]


def write_notebook(path: Path, extra: int = 0) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Py"}})
    notebook.cells.append(new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}))
    notebook.cells += [new_code_cell(source) for source in CELLS[:3]]
    notebook.cells += [new_code_cell(f"extra_{index} = {index}") for index in range(extra)]
    notebook.cells += [new_code_cell(source) for source in CELLS[3:]]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"b{index}"
    nbformat.write(notebook, path)
    return path


def write_script(path: Path) -> Path:
    lines = [PARAMETERS]
    for source in CELLS:
        lines.append("\n".join(line for line in source.splitlines() if not line.startswith("%%")))
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(function, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra", type=int, default=50, help="extra trivial cells for the per-cell figure")
    args = parser.parse_args()

    from jupyter_deploy.retrain.run import retrain

    with tempfile.TemporaryDirectory(prefix="jd-bench-retrain-") as temp:
        root = Path(temp)
        notebook = write_notebook(root / "bench.ipynb")
        padded = write_notebook(root / "bench_padded.ipynb", args.extra)
        script = write_script(root / "train.py")

        def run_script() -> None:
            subprocess.run([sys.executable, str(script)], check=True, capture_output=True, cwd=root)

        def run_retrain(path: Path = notebook) -> None:
            result = retrain(path, root=root, name="bench", promote_if="val_accuracy >= 0.5")
            assert result.outcome in ("promoted", "unchanged"), result

        print("warm-up: first retrain (creates the MLflow store and v1, with its parity check)...", flush=True)
        first = timed(run_retrain, 1)[0]
        run_retrain(padded)  # its cells differ, so its first run exports (and checks) a version of its own
        script_times = timed(run_script, args.repeats)
        retrain_times = timed(run_retrain, args.repeats)
        padded_times = timed(lambda: run_retrain(padded), args.repeats)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter_deploy.cli",
                "retrain",
                str(notebook),
                "--root",
                str(root),
                "--promote-if",
                "val_accuracy >= 0.5",
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        cli = time.perf_counter() - started

    script_s, retrain_s, padded_s = (statistics.median(t) for t in (script_times, retrain_times, padded_times))
    overhead = retrain_s - script_s
    per_cell_ms = (padded_s - retrain_s) / args.extra * 1000
    print(f"{'':34}{'median s':>10}  runs")
    print(f"{'plain script (python train.py)':34}{script_s:10.2f}  {' '.join(f'{t:.2f}' for t in script_times)}")
    print(f"{'retrain, no-op promotion':34}{retrain_s:10.2f}  {' '.join(f'{t:.2f}' for t in retrain_times)}")
    print(f"{f'retrain, +{args.extra} trivial cells':34}{padded_s:10.2f}  {' '.join(f'{t:.2f}' for t in padded_times)}")
    print(f"{'retrain CLI (fresh process)':34}{cli:10.2f}")
    print(f"{'first retrain (store + v1 + parity)':34}{first:10.2f}")
    ratio = retrain_s / script_s
    print(f"overhead (in-process retrain - script): {overhead:.2f} s (target <= 2.0 s), ratio {ratio:.1f}x")
    print(f"overhead (CLI - script): {cli - script_s:.2f} s")
    print(f"per extra trivial cell: {per_cell_ms:.1f} ms (target <= 10 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
