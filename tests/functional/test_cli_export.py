"""``jupyter-deploy export|versions|diff`` from a terminal: real processes, real files, no kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from notebooks import STATIC_CELLS, make_notebook

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_export_writes_a_tested_version_and_reexport_creates_nothing(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    first = run("export", "lin.ipynb", "--json", cwd=project)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["created"] is True and result["info"]["version"] == "v1"
    parity = result["info"]["parity"]
    assert parity["status"] == "skipped" and "no independent reference" in parity["detail"]
    version = project / "deployments" / "lin" / "v1"
    assert sorted(p.name for p in version.iterdir()) == [
        "_jd_runtime",
        "artifacts",
        "predictor.py",
        "requirements.txt",
        "version.json",
    ]
    predictor = (version / "predictor.py").read_text()
    assert "def helper(x):" in predictor and "SCALE = 2.0" in predictor
    assert "np.random.rand" not in predictor and "scratch" not in predictor and "pip" not in predictor
    requirements = (version / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("numpy==") for line in requirements)
    assert not any(line.startswith("json") for line in requirements)

    before = tree(project)
    again = run("export", "lin.ipynb", cwd=project)
    assert again.returncode == 0
    assert "unchanged, same as v1" in again.stdout
    assert tree(project) == before


def test_a_change_makes_v2_with_parent_and_diff(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    assert run("export", "lin.ipynb", cwd=project).returncode == 0
    cells = list(STATIC_CELLS)
    cells[1] = cells[1].replace("SCALE = 2.0", "SCALE = 3.0")
    make_notebook(project / "lin.ipynb", *cells)
    second = run("export", "lin.ipynb", "--json", cwd=project)
    info = json.loads(second.stdout)["info"]
    assert (info["version"], info["parent"]) == ("v2", "v1")
    # the notebook computes a different example output too (and so its reference profile differs)
    assert json.loads(second.stdout)["changed_files"] == [
        "artifacts/example_output.npy",
        "artifacts/reference_profile.json",
        "predictor.py",
    ]

    listing = json.loads(run("versions", "lin", "--json", cwd=project).stdout)
    assert [v["version"] for v in listing["versions"]] == ["v1", "v2"] and listing["current"] == "v2"
    diff = run("diff", "lin", "v1", "v2", cwd=project).stdout
    assert "-SCALE = 2.0" in diff and "+SCALE = 3.0" in diff


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda p: (p / "nb.ipynb").write_text('{"cells": [', encoding="utf-8"),
            "not a notebook: invalid JSON",
        ),
        (lambda p: (p / "nb.ipynb").write_text('{"name": "x"}', encoding="utf-8"), "the JSON has no 'cells'"),
        (
            lambda p: make_notebook(
                p / "nb.ipynb",
                "%%deploy predict\ndef predict(x): ...",
                kernelspec={"name": "ir", "language": "R", "display_name": "R"},
            ),
            "kernel language is 'R'",
        ),
        (lambda p: make_notebook(p / "nb.ipynb", "x = 1"), "no annotated cells"),
        (lambda p: make_notebook(p / "nb.ipynb", "%%deploy predictt\nx = 1"), "unknown role 'predictt'"),
        (
            lambda p: make_notebook(p / "nb.ipynb", "%%deploy predict --name Bad_Name\ndef predict(x): ..."),
            "not a valid deployment name",
        ),
        (
            lambda p: make_notebook(p / "nb.ipynb", "%%deploy predict\ndef predict(x):\n    return model(x)"),
            "'model' is used in cell 1 \\(id c0\\) but defined nowhere",
        ),
        (
            lambda p: make_notebook(
                p / "nb.ipynb",
                "import numpy as np\nmodel = np.ones(3)",
                "%%deploy predict\ndef predict(x):\n    return model @ x",
            ),
            "'model' .* is computed by cell 1 .*--execute",
        ),
        (
            lambda p: make_notebook(p / "nb.ipynb", "%%deploy predict\ndef predict(x):\n  return (x"),
            "syntax error on line 3",
        ),
    ],
)
def test_bad_input_exits_1_with_one_line_and_writes_nothing(project: Path, setup, message: str) -> None:
    setup(project)
    before = tree(project)
    result = run("export", "nb.ipynb", cwd=project)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("jupyter-deploy: error: ")
    import re

    assert re.search(message, result.stderr), result.stderr
    assert tree(project) == before


def test_old_nbformat_is_upgraded_not_refused(project: Path) -> None:
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": "old"},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": "%%deploy predict --name old\ndef predict(x):\n    return x",
                        "outputs": [],
                        "metadata": {},
                    }
                ]
            }
        ],
    }
    (project / "old.ipynb").write_text(json.dumps(v3), encoding="utf-8")
    result = run("export", "old.ipynb", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)["info"]
    assert info["name"] == "old" and info["parity"]["status"] == "skipped"


def test_generated_predictor_passes_ruff(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    assert run("export", "lin.ipynb", "--no-parity", cwd=project).returncode == 0
    ruff = Path(sys.executable).parent / "ruff"
    checked = subprocess.run(
        [str(ruff), "check", "--isolated", "deployments/lin/v1/predictor.py"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout


def test_nbconvert_to_predictor(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "predictor", "lin.ipynb", "--stdout"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "class LinPredictor(" in result.stdout
    assert (project / "deployments" / "lin" / "v1" / "predictor.py").read_text() == result.stdout


def test_help_explains_the_commands(project: Path) -> None:
    result = run("--help", cwd=project)
    assert result.returncode == 0
    for command in ("export", "versions", "diff"):
        assert command in result.stdout
    assert "--execute" in run("export", "--help", cwd=project).stdout


def test_manifests_follow_each_export_when_deploy_yaml_configures_the_deployment(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    (project / "deploy.yaml").write_text("deployments:\n  lin:\n    min_replicas: 1\n    max_replicas: 3\n")
    first = json.loads(run("export", "lin.ipynb", "--json", cwd=project).stdout)
    isvc = project / "deploy" / "lin" / "base" / "inferenceservice.yaml"
    assert first["manifests"] and isvc.is_file()
    assert "lin:v1" in isvc.read_text() and "maxReplicas: 3" in isvc.read_text()

    cells = list(STATIC_CELLS)
    cells[1] = cells[1].replace("SCALE = 2.0", "SCALE = 4.0")
    make_notebook(project / "lin.ipynb", *cells)
    assert run("export", "lin.ipynb", cwd=project).returncode == 0
    assert "lin:v2" in isvc.read_text()
