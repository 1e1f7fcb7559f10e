"""``jupyter-deploy schedule``: a batch/v1 CronJob that runs retrain; strict schema, Secrets by reference, and
its job template accepted by a real API server as a Job."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from jupyter_deploy.cli import build_parser, main

NOTEBOOK = Path(__file__).resolve().parent.parent / "data" / "retrain" / "tiny.ipynb"


@pytest.fixture
def scheduled_project(tmp_path: Path, make_version: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> Path:
    root = make_version(name="tiny", version="v1", root=tmp_path, notebook="tiny.ipynb")
    shutil.copy(NOTEBOOK, root / "tiny.ipynb")
    assert main(["manifests", "tiny", "--root", str(root)]) == 0
    capsys.readouterr()
    return root


def schedule(root: Path, *args: str) -> int:
    return main(["schedule", "tiny.ipynb", "--root", str(root), *args])


def cronjob(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/tiny/base/retrain-cronjob.yaml").read_text())


def test_cronjob_is_valid_batch_v1_and_listed(scheduled_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = scheduled_project
    args = ["--cron", "0 3 * * *", "-p", "scale", "3", "--promote-if", "score > current", "--gpu", "2", "--json"]
    assert schedule(root, *args) == 0
    result = json.loads(capsys.readouterr().out)
    document = cronjob(root)
    kubernetes_validate.validate(document, "1.30.0", strict=True)
    assert document["apiVersion"] == "batch/v1" and document["kind"] == "CronJob"
    spec = document["spec"]
    assert spec["schedule"] == "0 3 * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert any(item["key"] == "nvidia.com/gpu" for item in pod["tolerations"])
    # the command is the CLI's own retrain, and it parses
    command = container["command"]
    assert command == result["command"]
    assert command[:3] == ["jupyter-deploy", "retrain", "tiny.ipynb"]
    parsed = build_parser().parse_args(command[1:])
    assert parsed.parameter == [["scale", "3"]] and parsed.promote_if == "score > current"
    # MLflow's URI and credentials: Secret references only, never values
    mlflow_env = [item for item in container["env"] if item["name"].startswith("MLFLOW_TRACKING")]
    assert {item["name"] for item in mlflow_env} >= {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_PASSWORD"}
    assert all("value" not in item and "secretKeyRef" in item["valueFrom"] for item in mlflow_env)
    kustomization = yaml.safe_load((root / "deploy/tiny/base/kustomization.yaml").read_text())
    assert kustomization["resources"] == ["inferenceservice.yaml", "retrain-cronjob.yaml"]
    # deterministic: the same command writes the same bytes, and regenerating the manifests keeps it listed
    before = (root / "deploy/tiny/base/retrain-cronjob.yaml").read_bytes()
    assert schedule(root, *args) == 0
    assert main(["manifests", "tiny", "--root", str(root)]) == 0
    assert (root / "deploy/tiny/base/retrain-cronjob.yaml").read_bytes() == before
    kustomization = yaml.safe_load((root / "deploy/tiny/base/kustomization.yaml").read_text())
    assert "retrain-cronjob.yaml" in kustomization["resources"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "every night"], "is not a cron schedule"),
        (["--cron", "0 3 * *"], "five fields"),
        (["--cron", "@daily", "-p", "epochs", "3"], "unknown parameter 'epochs'"),
        (["--cron", "@daily", "--promote-if", "score is high"], "--promote-if: cannot read"),
        (["--cron", "@daily", "--memory", "lots"], "--memory 'lots' is not a Kubernetes quantity"),
        (
            ["--cron", "@daily", "--image", "a" * 10_000],
            "is not an image reference: the repository name has 10000 characters",
        ),
        (
            ["--cron", "@daily", "--image", "Tiny-Train:latest"],
            "--image: 'Tiny-Train:latest' is not an image reference",
        ),
    ],
)
def test_bad_schedule_is_refused_and_writes_nothing(
    scheduled_project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert schedule(scheduled_project, *args) == 1
    assert message in capsys.readouterr().err
    assert not (scheduled_project / "deploy/tiny/base/retrain-cronjob.yaml").exists()


def test_without_manifests_says_to_generate_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(NOTEBOOK, tmp_path / "tiny.ipynb")
    assert schedule(tmp_path, "--cron", "@daily") == 1
    assert "generate the manifests first (jupyter-deploy manifests tiny)" in capsys.readouterr().err


@pytest.mark.k8s
def test_job_template_applies_to_the_api_server_as_a_job(
    scheduled_project: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """v1.20 serves CronJob only as batch/v1beta1, so what is checked live is the Job it would create."""
    from jupyter_deploy.cluster.kube import Cluster

    assert schedule(scheduled_project, "--cron", "0 3 * * *", "--gpu", "1", "--gpu-type", "NVIDIA-H100") == 0
    document = cronjob(scheduled_project)
    template = document["spec"]["jobTemplate"]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "tiny-retrain-manual", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    cluster = Cluster(kubeconfig)
    try:
        result = cluster.apply(job, "default")
        assert result["action"] == "created"
        assert result["dropped"] == []  # the server knew every field we sent
        stored = cluster.get(job, "default")
        assert stored is not None
        container = stored["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == template["spec"]["template"]["spec"]["containers"][0]["command"]
    finally:
        cluster.delete(job, "default")
