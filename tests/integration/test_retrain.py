"""``jupyter-deploy retrain``: real papermill runs in the real ``jupyter-deploy`` kernel, a real sqlite MLflow.

One project is shared by the module (each run starts a kernel and a parity subprocess), so the tests run in
file order: a first run promotes v1; a better run promotes v2 and moves the manifests and the registry to it;
a worse run is built but not promoted; a run whose cell raises changes nothing but the run's FAILED record.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from jupyter_deploy.cli import main
from jupyter_deploy.retrain.mlflow_store import MlflowStore
from jupyter_deploy.versions import store as versions

pytestmark = [pytest.mark.kernel, pytest.mark.mlflow, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parent.parent / "data" / "retrain" / "tiny.ipynb"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("retrain") / "project"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "tiny.ipynb")
    return root


def retrain(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["retrain", str(project / "tiny.ipynb"), "--root", str(project), "--json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def manifest_version(project: Path) -> str:
    text = (project / "deploy" / "tiny" / "base" / "inferenceservice.yaml").read_text()
    return "v2" if "deployments/tiny/v2" in text or "tiny:v2" in text else "v1" if "tiny:v1" in text else "?"


def test_first_run_promotes_and_records_lineage(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = retrain(project, capsys, "-p", "scale", "2", "--promote-if", "score >= 0.5")
    assert code == 0
    assert result["outcome"] == "promoted" and result["version"] == "v1" and result["previous"] is None
    assert result["parameters"] == {"scale": 2.0}
    assert result["metrics"] == {"score": 0.5}  # found as a variable, logged into the run
    assert versions.current_version(project, "tiny") == "v1"
    info = versions.read_info(versions.version_path(project, "tiny", "v1"))
    assert info.mlflow_run_id == result["run_id"] and info.notebook == "tiny.ipynb"
    run = MlflowStore(project).client.get_run(result["run_id"])
    assert run.info.status == "FINISHED" and run.data.params == {"scale": "2.0"}
    assert Path(result["notebook"]).is_file()


def test_better_run_promotes_moves_manifests_and_registers(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifests", "tiny", "--root", str(project)]) == 0
    capsys.readouterr()
    before = manifest_version(project)
    code, result, _ = retrain(
        project, capsys, "-p", "scale", "3", "-p", "log_to_mlflow", "True", "--promote-if", "score > current"
    )
    assert code == 0, _
    assert result["outcome"] == "promoted" and result["version"] == "v2" and result["previous"] == "v1"
    assert result["reason"] == "score = 0.75 > current 0.5"
    # the notebook's own mlflow.log_* calls landed in the same run
    assert result["metrics"]["logged_score"] == 0.75
    assert versions.current_version(project, "tiny") == "v2"
    assert before == "v1" and manifest_version(project) == "v2"
    store = MlflowStore(project)
    registered = store.registered_versions("tiny")
    assert (result["run_id"], "v2") in [(item["run_id"], item["tags"]["jupyter_deploy.version"]) for item in registered]
    assert len(registered) == 2 and result["registered_version"] == "2"
    assert store.client.get_model_version_by_alias("tiny", "current").run_id == result["run_id"]
    artifacts = {item.path for item in store.client.list_artifacts(result["run_id"], "notebook")}
    assert artifacts == {"notebook/tiny.ipynb"}


def test_worse_run_is_built_but_not_promoted(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deploy = {p: p.read_bytes() for p in (project / "deploy").rglob("*") if p.is_file()}
    code, result, _ = retrain(project, capsys, "-p", "scale", "1", "--promote-if", "score > current")
    assert code == 0
    assert result["outcome"] == "rejected" and result["version"] == "v3" and not result["promoted"]
    assert result["reason"] == "score = 0.25 fails > current 0.75"
    assert versions.version_path(project, "tiny", "v3").is_dir()
    assert versions.current_version(project, "tiny") == "v2"
    assert {p: p.read_bytes() for p in (project / "deploy").rglob("*") if p.is_file()} == deploy
    assert len(MlflowStore(project).registered_versions("tiny")) == 2  # v1 and v2 only


def test_failing_cell_promotes_nothing_and_keeps_the_notebook(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy = {p: p.read_bytes() for p in (project / "deploy").rglob("*") if p.is_file()}
    known = [info.version for info in versions.list_versions(project, "tiny")]
    code, _, err = retrain(project, capsys, "-p", "scale", "4", "-p", "explode", "True")
    assert code == 1
    message = err.strip().splitlines()[-1]
    assert message.startswith("jupyter-deploy: error: retraining tiny failed in cell 4 (id c3: weights = ")
    assert "RuntimeError: training diverged; executed notebook kept: " in message
    kept = Path(message.rsplit("executed notebook kept: ", 1)[1])
    kept = kept if kept.is_absolute() else Path.cwd() / kept
    assert kept.is_file() and "training diverged" in kept.read_text()
    assert [info.version for info in versions.list_versions(project, "tiny")] == known
    assert versions.current_version(project, "tiny") == "v2"
    assert {p: p.read_bytes() for p in (project / "deploy").rglob("*") if p.is_file()} == deploy
    failed = MlflowStore(project).runs("tiny")[0]
    assert failed["status"] == "FAILED" and failed["outcome"] == "failed"
    assert "training diverged" in failed["reason"]


def test_runs_lists_every_run_newest_first(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "tiny", "--root", str(project), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(run["outcome"], run["version"]) for run in runs] == [
        ("failed", None),
        ("rejected", "v3"),
        ("promoted", "v2"),
        ("promoted", "v1"),
    ]
    assert main(["runs", "tiny", "--root", str(project)]) == 0
    text = capsys.readouterr().out
    assert "rejected   v3" in text and "score = 0.25 fails > current 0.75" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "scael", "3"], "unknown parameter 'scael'"),
        (["-p", "repeats", "2.5"], "parameter 'repeats' must be an int"),
        (["--promote-if", "score >= high"], "--promote-if: cannot read"),
    ],
)
def test_bad_input_is_refused_before_any_kernel_or_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    shutil.copy(NOTEBOOK, tmp_path / "tiny.ipynb")
    code = main(["retrain", str(tmp_path / "tiny.ipynb"), "--root", str(tmp_path), *args])
    assert code == 1
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.ipynb"]  # no MLflow store, no run directory
