"""Export as a transaction: validate first, write after, one export of a deployment at a time, nothing left
behind by a failure or a killed export, files made with the user's umask. Real ``jupyter-deploy`` processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from notebooks import STATIC_CELLS, make_notebook

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]


def start(*args: str, cwd: Path, umask: int | None = None) -> subprocess.Popen[str]:
    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=set_umask
    )


def run(*args: str, cwd: Path, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    process = start(*args, cwd=cwd, umask=umask)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_failed_first_export_leaves_nothing(project: Path) -> None:
    make_notebook(
        project / "lin.ipynb", *STATIC_CELLS[:4], "%%deploy predict --name lin\ndef predict(x):\n    return 1 / 0"
    )
    result = run("export", "lin.ipynb", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert listing(project) == ["lin.ipynb"]


def test_invalid_deploy_yaml_options_change_nothing(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    (project / "deploy.yaml").write_text("deployments:\n  lin:\n    max_replicas: 3\n")
    assert run("export", "lin.ipynb", cwd=project).returncode == 0
    before = {path: (project / path).read_bytes() for path in listing(project) if (project / path).is_file()}

    cells = list(STATIC_CELLS)
    cells[1] = cells[1].replace("SCALE = 2.0", "SCALE = 4.0")
    make_notebook(project / "lin.ipynb", *cells)
    (project / "deploy.yaml").write_text("deployments:\n  lin:\n    max_replicas: 3\n    min_replicas: 5\n")
    result = run("export", "lin.ipynb", cwd=project)
    assert result.returncode == 1, result.stdout
    assert "replicas" in result.stderr and "Traceback" not in result.stderr
    after = {path: (project / path).read_bytes() for path in listing(project) if (project / path).is_file()}
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == {"lin.ipynb", "deploy.yaml"}
    assert (project / "deployments" / "lin" / "CURRENT").read_text().strip() == "v1"


def test_two_exports_of_the_same_content_at_once_make_one_version(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    processes = [start("export", "lin.ipynb", "--json", cwd=project) for _ in range(3)]
    results = [json.loads(process.communicate(timeout=300)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert sorted(result["created"] for result in results) == [False, False, True]
    assert {result["info"]["version"] for result in results} == {"v1"}
    assert sorted(p.name for p in (project / "deployments" / "lin").iterdir()) == ["CURRENT", "v1"]


def test_a_killed_exports_staging_is_removed_by_the_next_export(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    deployment = project / "deployments" / "lin"
    (deployment / ".staging-dead1234" / "artifacts").mkdir(parents=True)
    (deployment / ".staging-dead1234" / "artifacts" / "weights.npy").write_bytes(b"\0" * 1000)
    (deployment / ".CURRENT-dead").write_text("v9\n")
    assert run("export", "lin.ipynb", cwd=project).returncode == 0
    assert sorted(p.name for p in deployment.iterdir()) == ["CURRENT", "v1"]


def test_versions_and_current_follow_the_umask(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    assert run("export", "lin.ipynb", cwd=project, umask=0o002).returncode == 0
    deployment = project / "deployments" / "lin"
    assert stat.S_IMODE((deployment / "v1").stat().st_mode) == 0o775
    assert stat.S_IMODE((deployment / "CURRENT").stat().st_mode) == 0o664
    assert stat.S_IMODE((deployment / "v1" / "predictor.py").stat().st_mode) == 0o664


def test_moving_cells_and_adding_markdown_makes_no_new_version(project: Path) -> None:
    make_notebook(project / "lin.ipynb", *STATIC_CELLS)
    first = json.loads(run("export", "lin.ipynb", "--json", cwd=project).stdout)
    make_notebook(project / "lin.ipynb", "#md # A title", STATIC_CELLS[0], "#md prose", "x = 1", *STATIC_CELLS[1:])
    second = json.loads(run("export", "lin.ipynb", "--json", cwd=project).stdout)
    assert second["created"] is False
    assert second["info"]["content_hash"] == first["info"]["content_hash"]
    assert "# cell" not in (project / "deployments" / "lin" / "v1" / "predictor.py").read_text()
