"""Parity can fail: a live export (a real kernel, run as Run All through nbclient) compares the exported module,
in a fresh process, with what the kernel computed, and refuses a module that answers differently."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebooks import make_notebook

pytestmark = pytest.mark.kernel

IMPORTS = "import numpy as np"
EXAMPLE = "%%deploy example --name par\nexample_input = np.array([1.0, 2.0, 3.0])"
EXPORT = "%deploy export par"


def export_live(project: Path, *cells: str) -> str:
    """Run the notebook, whose last cell is ``%deploy export``; return what that cell printed."""
    path = make_notebook(project / "par.ipynb", IMPORTS, *cells, EXPORT)
    node = nbformat.read(path, as_version=4)
    client = NotebookClient(
        node, timeout=240, kernel_name="jupyter-deploy", allow_errors=True, resources={"metadata": {"path": project}}
    )
    client.execute()
    outputs = node.cells[-1].outputs
    return "".join(out.get("text", "") + out.get("data", {}).get("text/plain", "") for out in outputs)


def refused(printed: str, project: Path, words: str) -> None:
    assert "UsageError: parity check failed for 'par'" in printed, printed
    assert words in printed
    assert not (project / "deployments").exists()  # nothing half-written


def test_a_global_the_notebook_changed_after_defining_predict(project: Path) -> None:
    printed = export_live(
        project,
        "SCALE = 2.0",
        EXAMPLE,
        "%%deploy predict --name par\ndef predict(x):\n    return np.asarray(x) * SCALE",
        "def recalibrate():\n    global SCALE\n    SCALE = 2.5\n\n\nrecalibrate()",
    )
    refused(printed, project, "values differ by up to 1.5")


def test_a_nondeterministic_predict(project: Path) -> None:
    printed = export_live(
        project,
        EXAMPLE,
        "%%deploy predict --name par\ndef predict(x):\n    return np.asarray(x) + np.random.rand(len(x))",
    )
    refused(printed, project, "values differ by up to")


@pytest.mark.parametrize(("delta", "passes"), [(5e-5, True), (1e-3, False)])
def test_the_tolerance_is_relative_1e_4(project: Path, delta: float, passes: bool) -> None:
    """The kernel's DELTA (set by a call) differs from the source's 0.0: within 1e-4 of 1.0 passes, beyond fails."""
    printed = export_live(
        project,
        "DELTA = 0.0",
        "%%deploy example --name par\nexample_input = np.ones(4)",
        "%%deploy predict --name par\ndef predict(x):\n    return np.asarray(x) + DELTA",
        f"def drift():\n    global DELTA\n    DELTA = {delta!r}\n\n\ndrift()",
    )
    if not passes:
        refused(printed, project, "values differ by up to 0.001")
        return
    assert "par: exported v1" in printed, printed
    parity = json.loads((project / "deployments" / "par" / "v1" / "version.json").read_text())["parity"]
    assert parity["status"] == "passed"
    assert parity["max_abs_diff"] == pytest.approx(delta, rel=1e-6)
