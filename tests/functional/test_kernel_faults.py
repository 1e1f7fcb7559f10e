"""The notebook front door in real kernels (nbclient, ``jupyter-deploy export --execute``): a raising
``%%deploy`` cell fails, usage errors are one line, and every front door renders and names the same version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from notebooks import STATIC_CELLS, make_notebook

pytestmark = pytest.mark.kernel
CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def execute(path: Path, project: Path, **env: str) -> tuple[nbformat.NotebookNode, CellExecutionError | None]:
    """Run the notebook as Run All does (nbclient, the jupyter-deploy kernel); return it and the error, if any."""
    node = nbformat.read(path, as_version=4)
    client = NotebookClient(node, timeout=240, kernel_name="jupyter-deploy", resources={"metadata": {"path": project}})
    try:
        client.execute(env={**os.environ, **env})
    except CellExecutionError as error:
        return node, error
    return node, None


def errors(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(out["ename"], out["evalue"]) for out in cell.get("outputs", []) if out["output_type"] == "error"]


def text(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out["output_type"] == "stream")


def test_a_raising_deploy_cell_fails_and_execution_stops(project: Path) -> None:
    path = make_notebook(
        project / "boom.ipynb",
        "%%deploy predict\ndef predict(x):\n    return x\n\n\nraise ValueError('boom')",
        "print('after')",
    )
    node, error = execute(path, project)
    assert error is not None
    deploy_cell, after = node.cells
    assert ("ValueError", "boom") in errors(deploy_cell)
    assert "UsageError: the %%deploy predict cell failed: ValueError: boom" in text(deploy_cell)
    assert after.get("outputs") == [] and after.get("execution_count") is None

    result = run_cli("export", "boom.ipynb", "--execute", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "ValueError: boom" in result.stderr
    assert not (project / "deployments").exists()


def test_magic_usage_errors_are_one_line_and_help_returns(project: Path) -> None:
    path = make_notebook(
        project / "usage.ipynb",
        "%deploy manifests --help",
        "%deploy manifests x --bogus 1",
        "%deploy export 'a",
        "%deploy versions",
    )
    node = nbformat.read(path, as_version=4)
    client = NotebookClient(
        node,
        timeout=120,
        kernel_name="jupyter-deploy",
        allow_errors=True,
        resources={"metadata": {"path": project}},
    )
    client.execute()
    help_cell, bogus, quote, missing = node.cells
    assert errors(help_cell) == [] and "usage:" in text(help_cell)
    for cell, words in ((bogus, "unrecognized arguments: --bogus 1"), (quote, "No closing quotation")):
        # IPython shows a UsageError as one line on stderr, no traceback; the cell still fails
        assert errors(cell) == [], cell.outputs
        [line] = text(cell).strip().splitlines()
        assert line.startswith("UsageError: %deploy") and words in line
    assert text(missing).startswith("UsageError:")


def test_every_front_door_makes_the_same_version(project: Path) -> None:
    """Unnamed cells: --execute (the notebook exports itself too), a static export and %deploy export in a
    kernel of a Jupyter session all name the deployment after the notebook and find one version."""
    cells = [cell.replace(" --name lin", "") for cell in STATIC_CELLS]
    path = make_notebook(project / "same-cells.ipynb", *cells, "%deploy export")
    executed = run_cli("export", "same-cells.ipynb", "--execute", "--json", cwd=project)
    assert executed.returncode == 0, executed.stderr
    first = json.loads(executed.stdout)
    assert first["created"] is True and first["info"]["version"] == "v1"
    assert first["info"]["parity"]["status"] == "passed"

    static = json.loads(run_cli("export", "same-cells.ipynb", "--json", cwd=project).stdout)
    assert static["created"] is False
    assert static["info"]["content_hash"] == first["info"]["content_hash"]

    node, error = execute(path, project, JPY_SESSION_NAME=str(path))
    assert error is None, error
    assert "unchanged, same as v1" in "".join(
        out.get("data", {}).get("text/plain", "") for out in node.cells[-1].outputs
    )
    deployment = project / "deployments" / "same-cells"
    assert sorted(p.name for p in deployment.iterdir()) == ["CURRENT", "v1"]
