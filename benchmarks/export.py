"""Export speed, side by side in one run (machines here are noisy: compare ratios, not absolutes).

1. ``import jupyter_deploy`` + ``%load_ext jupyter_deploy`` in a fresh process against ``import kserve``
   (targets: at most 150 ms and at most 0.25x).
2. Annotations + closure + render of a generated 500-cell notebook (no parity subprocess) against
   ``nbformat.read`` of the same file (targets: at most 50 ms median and at most 3x).

Run: ``python benchmarks/export.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD_EXT = """
import time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
start = time.perf_counter()
shell.run_line_magic("load_ext", "jupyter_deploy")
print(time.perf_counter() - start)
"""
IMPORT_KSERVE = "import time\nstart = time.perf_counter()\nimport kserve\nprint(time.perf_counter() - start)"


def in_fresh_process(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        times.append(float(output.strip().splitlines()[-1]))
    return statistics.median(times)


def make_notebook(path: Path, cells: int = 500) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    notebook = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}})
    notebook.cells.append(new_code_cell("import math\nimport json\nimport numpy as np\n%matplotlib inline"))
    for index in range(cells - 3):
        kind = index % 5
        if kind == 0:
            notebook.cells.append(new_markdown_cell(f"## Step {index}\nSome prose about step {index}."))
        elif kind == 1:
            notebook.cells.append(new_code_cell(f"CONST_{index} = {index} * 2\nLIMIT_{index} = CONST_{index} + 1"))
        elif kind == 2:
            previous = f"helper_{index - 5}(x)" if index >= 7 else "x"
            notebook.cells.append(
                new_code_cell(
                    f'def helper_{index}(x):\n    """Step {index}."""\n    y = {previous}\n'
                    f"    return [math.sqrt(abs(v)) + CONST_{index - 1} for v in y]"
                )
            )
        elif kind == 3:
            notebook.cells.append(new_code_cell(f"data_{index} = np.random.rand(100)\nprint(data_{index}.mean())"))
        else:
            notebook.cells.append(
                new_code_cell(f"class Model{index}:\n    def __call__(self, x):\n        return helper_{index - 2}(x)")
            )
    last_helper = max(i for i in range(cells - 3) if i % 5 == 2)
    notebook.cells.append(new_code_cell("%%deploy example --name bench\nexample_input = [1.0, 2.0]"))
    notebook.cells.append(
        new_code_cell(f"%%deploy predict --name bench\ndef predict(x):\n    return helper_{last_helper}(x)")
    )
    nbformat.write(notebook, path)


def export_pipeline(path: Path) -> str:
    from jupyter_deploy.notebook.annotations import find_deployments, select_deployment
    from jupyter_deploy.notebook.closure import build_closure
    from jupyter_deploy.notebook.read import read_notebook
    from jupyter_deploy.versions.predictor import render_predictor

    source = read_notebook(path)
    deployment = select_deployment(find_deployments(source, "bench"), "bench", str(path))
    closure = build_closure(source, deployment)
    return render_predictor(deployment, closure, {}, None, None)


def timed(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import nbformat

    load_ext = in_fresh_process(LOAD_EXT, 7)
    kserve = in_fresh_process(IMPORT_KSERVE, 3)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "big.ipynb"
        make_notebook(path)
        text = export_pipeline(path)
        assert "def predict" in text and "data_" not in text
        ours = timed(lambda: export_pipeline(path), 15)
        baseline = timed(lambda: nbformat.read(path, as_version=4), 15)

    rows = [
        ("import + %load_ext jupyter_deploy", load_ext, "import kserve", kserve, 0.150, 0.25),
        (
            "annotations + closure + render (500 cells)",
            ours,
            "nbformat.read (same file)",
            baseline,
            0.050,
            3.0,
        ),
    ]
    print(f"{'measure':44} {'ours':>9} {'baseline':>28} {'ratio':>7}  targets")
    for name, value, base_name, base, limit, ratio_limit in rows:
        ratio = value / base
        verdict = "ok" if value <= limit and ratio <= ratio_limit else "MISSED"
        print(
            f"{name:44} {value * 1000:7.1f}ms {base_name:>19} {base * 1000:6.1f}ms {ratio:6.2f}x"
            f"  <= {limit * 1000:.0f} ms and <= {ratio_limit}x: {verdict}"
        )


if __name__ == "__main__":
    main()
