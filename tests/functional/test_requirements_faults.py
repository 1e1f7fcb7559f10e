"""Requirements a version could not be installed or imported from are refused at export, before anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from notebooks import STATIC_CELLS, make_notebook

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]


def export(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "export", *args], cwd=project, capture_output=True, text=True, timeout=300)


def test_a_requirement_pip_cannot_read_is_one_line_and_no_version(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    result = export(project, "lin.ipynb", "--requirement", "pandas=>2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("jupyter-deploy: error: --requirement 'pandas=>2' is not a requirement pip")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / "deployments").exists()


def test_a_module_of_the_users_own_is_named_and_no_version(project: Path) -> None:
    (project / "mylocal.py").write_text("def shift(x):\n    return x + 1\n")
    cells = list(STATIC_CELLS)
    cells[0] += "\nimport mylocal"
    cells[4] = cells[4].replace("return helper(np.asarray(x))", "return mylocal.shift(helper(np.asarray(x)))")
    make_notebook(project / "lin.ipynb", *cells)
    result = export(project, "lin.ipynb")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the predictor imports 'mylocal', a module of your own" in result.stderr
    assert not (project / "deployments").exists()
