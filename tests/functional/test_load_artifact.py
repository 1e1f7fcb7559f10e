"""``%%deploy load --artifact FILE``: a load cell's own files ship inside the version (real kernel, real files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from notebooks import make_notebook

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]
pytestmark = [pytest.mark.kernel, pytest.mark.slow]

CELLS = (
    "import numpy as np",
    "%%deploy load --artifact weights/w.npy\nweights = np.load('weights/w.npy')",
    "%%deploy example\nexample_input = np.array([[1.0, 2.0], [3.0, 4.0]])",
    "%%deploy predict\ndef predict(x):\n    return np.asarray(x) @ weights",
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_the_load_cells_file_ships_and_the_version_loads_it_from_anywhere(project: Path, tmp_path: Path) -> None:
    (project / "weights").mkdir()
    weights = np.array([[2.0, 0.5], [1.0, -1.0]])
    np.save(project / "weights" / "w.npy", weights)
    make_notebook(project / "lin.ipynb", *CELLS)
    result = run("export", "lin.ipynb", "--execute", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)["info"]
    assert info["parity"]["status"] == "passed"
    version = project / "deployments" / "lin" / "v1"
    assert np.array_equal(np.load(version / "artifacts" / "files" / "weights" / "w.npy"), weights)

    # the version alone, elsewhere, without the notebook's directory: the load cell still finds its file
    moved = shutil.copytree(version, tmp_path / "elsewhere")
    script = (
        "import importlib.util, sys, numpy as np\n"
        f"sys.path.insert(0, {str(moved)!r})  # as 'python predictor.py' has it: the version's own _jd_runtime\n"
        f"spec = importlib.util.spec_from_file_location('p', {str(moved / 'predictor.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['p'] = module; spec.loader.exec_module(module)\n"
        "model = next(v for v in vars(module).values() if isinstance(v, type) and v.__module__ == 'p')()\n"
        "model.load()\n"
        "print(model.infer(np.array([[1.0, 1.0]])).tolist())\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == (np.array([[1.0, 1.0]]) @ weights).tolist()


def test_a_missing_or_outside_file_is_one_clear_line_and_no_version(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *CELLS)
    (project / "weights").mkdir()
    np.save(project / "weights" / "w.npy", np.eye(2))
    cells = list(CELLS)
    cells[1] = cells[1].replace("--artifact weights/w.npy", "--artifact ../w.npy")
    make_notebook(project / "lin.ipynb", *cells)
    result = run("export", "lin.ipynb", "--execute", cwd=project)
    assert result.returncode == 1
    assert "relative to the notebook's directory" in result.stderr and "Traceback" not in result.stderr
    assert not list((project / "deployments").glob("*/v*"))
