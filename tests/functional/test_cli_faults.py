"""Bad input from a terminal: one clear line on stderr, exit 1, no traceback, nothing written or read outside.

Real ``jupyter-deploy`` processes on real files."""

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


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed with one ``jupyter-deploy: error:`` line that holds ``words``."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jupyter-deploy: error: "), result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def raw_notebook(path: Path, cells: list, metadata: object) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}))
    return path


def code_cell(source: str, metadata: object = None) -> dict:
    return {"cell_type": "code", "metadata": {} if metadata is None else metadata, "source": source, "outputs": []}


PREDICT = "%%deploy predict\ndef predict(x):\n    return x\n"


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("cell metadata is a string", ["cell 1's metadata"]),
        ("cell tags are a string", ["metadata.tags"]),
        ("kernelspec is a string", ["metadata.kernelspec"]),
        ("language_info is a list", ["metadata.language_info"]),
        ("10,000 nested brackets as JSON", ["nested too deeply"]),
        ("100,000 additions", ["nested too deeply"]),
        ("10,000 unary minus", ["nested too deeply"]),
    ],
)
def test_malformed_notebooks_are_refused_in_one_line(project: Path, case: str, words: list[str]) -> None:
    path = project / "bad.ipynb"
    if case == "cell metadata is a string":
        raw_notebook(path, [code_cell(PREDICT, "tags")], {})
    elif case == "cell tags are a string":
        raw_notebook(path, [code_cell(PREDICT, {"tags": "deploy:predict"})], {})
    elif case == "kernelspec is a string":
        raw_notebook(path, [code_cell(PREDICT)], {"kernelspec": "python3"})
    elif case == "language_info is a list":
        raw_notebook(path, [code_cell(PREDICT)], {"language_info": ["python"]})
    elif case == "10,000 nested brackets as JSON":
        path.write_text("[" * 10_000 + "]" * 10_000)
    elif case == "100,000 additions":
        raw_notebook(path, [code_cell(PREDICT + "x = " + "1+" * 100_000 + "1\n")], {})
    else:
        raw_notebook(path, [code_cell(PREDICT + "x = " + "-" * 10_000 + "1\n")], {})
    refused(run("export", "bad.ipynb", cwd=project), *words)
    assert not (project / "deployments").exists()


def test_an_empty_list_as_cell_metadata_reads_as_no_metadata(project: Path) -> None:
    raw_notebook(project / "ok.ipynb", [code_cell("%%deploy example\nexample_input = 1\n", []), code_cell(PREDICT)], {})
    result = run("export", "ok.ipynb", "--name", "ok", cwd=project)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("defaults: [1, 2]\n", ["'defaults' must be a mapping"]),
        ("deployments:\n  lin: 5\n", ["deployments.lin must be a mapping"]),
        ("deployments: [lin]\n", ["'deployments' must map"]),
        ("- 1\n", ["expected a mapping"]),
    ],
)
def test_deploy_yaml_of_the_wrong_shape_is_one_line(project: Path, text: str, words: list[str]) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    (project / "deploy.yaml").write_text(text)
    refused(run("export", "lin.ipynb", cwd=project), "deploy.yaml", *words)
    assert not (project / "deployments").exists()


@pytest.mark.parametrize("cron", ["61 * * * *", "a b c d e", "0 24 * * *", "0 0 0 * *", "*/0 * * * *", "5-1 * * * *"])
def test_schedule_refuses_out_of_range_and_malformed_cron(project: Path, cron: str) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    refused(run("schedule", "lin.ipynb", "--cron", cron, cwd=project), "is not a cron schedule")
    assert not (project / "deploy").exists()


def test_runs_on_a_fresh_project_creates_nothing(project: Path) -> None:
    refused(run("runs", "nosuch", cwd=project), "no retraining runs for 'nosuch'")
    assert list(project.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["diff", "lin", "v1", "OUTSIDE"],
        ["diff", "lin", "v1", "../../outside"],
        ["manifests", "lin@../../outside"],
        ["manifests", "../outside@v1"],
        ["serve", "lin@OUTSIDE"],
    ],
)
def test_a_version_is_a_version_name_nothing_else(project: Path, command: list[str]) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    assert run("export", "lin.ipynb", cwd=project).returncode == 0
    outside = project.parent / "outside"
    outside.mkdir()
    (outside / "version.json").write_text((project / "deployments/lin/v1/version.json").read_text())
    (outside / "predictor.py").write_text("SECRET = 1\n")
    before = sorted(p.as_posix() for p in project.rglob("*"))
    argv = [str(outside) if part == "OUTSIDE" else part.replace("OUTSIDE", str(outside)) for part in command]
    result = run(*argv, cwd=project)
    assert "is not a" in refused(result)
    assert "SECRET" not in result.stdout + result.stderr
    assert sorted(p.as_posix() for p in project.rglob("*")) == before
