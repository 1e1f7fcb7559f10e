"""``jupyter-deploy manifests NAME --batch-job``: a batch/v1 Indexed Job, strictly valid, with the predictor image
and GPU options of the InferenceService, and accepted by a real API server (v1.20, which predates Indexed Jobs:
what it drops is compared with what was sent)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from jupyter_deploy.cli import main

GPU_ARGS = ["--gpu", "2", "--gpu-type", "NVIDIA-H100", "--toleration", "dedicated=ml:NoSchedule"]


@pytest.fixture
def project(tmp_path: Path, make_version: Callable[..., Path]) -> Path:
    root = make_version(name="churn", version="v3", requirements=["numpy==2.1.0", "pandas==2.3.3", "pyarrow==25.0.1"])
    return root


def batch_job(root: Path, *args: str) -> int:
    return main(["manifests", "churn", "--root", str(root), "--batch-job", *args])


def job(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/churn/batch-job.yaml").read_text())


def test_indexed_job_is_strictly_valid_and_uses_the_predictor_image(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--input", "pvc://data/in/", "--output", "s3://bucket/out", "--parallelism", "4", *GPU_ARGS, "--json"]
    assert batch_job(project, *args) == 0
    result = json.loads(capsys.readouterr().out)
    document = job(project)
    kubernetes_validate.validate(document, "1.30.0", strict=True)
    assert document["apiVersion"] == "batch/v1" and document["kind"] == "Job"
    spec = document["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 4
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    # the same image reference as the InferenceService's predictor
    assert main(["manifests", "churn", "--root", str(project), *GPU_ARGS]) == 0
    isvc = yaml.safe_load((project / "deploy/churn/base/inferenceservice.yaml").read_text())
    predictor = isvc["spec"]["predictor"]
    assert container["image"] == predictor["containers"][0]["image"] == "churn:v3" == result["image"]
    assert container["resources"] == predictor["containers"][0]["resources"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100"}
    assert pod["tolerations"] == predictor["tolerations"]
    assert {item["key"] for item in pod["tolerations"]} == {"nvidia.com/gpu", "dedicated"}
    # the version's own entry point, one shard per completion index, the claim mounted
    assert container["command"] == ["python", "-m", "_jd_runtime.batch"]
    assert container["args"] == ["--input", "/mnt/pvc/data/in", "--output", "s3://bucket/out", "--shards", "4"]
    assert {"name": "pvc-0", "mountPath": "/mnt/pvc/data", "readOnly": True} in container["volumeMounts"]
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "data", "readOnly": True}
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    # not part of the kustomize base (apply must not re-run it), deterministic, and `validate` accepts it
    kustomization = yaml.safe_load((project / "deploy/churn/base/kustomization.yaml").read_text())
    assert "batch-job.yaml" not in str(kustomization)
    before = (project / "deploy/churn/batch-job.yaml").read_bytes()
    assert batch_job(project, *args) == 0
    assert (project / "deploy/churn/batch-job.yaml").read_bytes() == before
    assert main(["validate", "--root", str(project)]) == 0


def test_missing_batch_dependencies_are_noted(
    tmp_path: Path, make_version: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_version(name="churn", version="v1")
    assert batch_job(root, "--input", "/data/in.csv", "--output", "/data/out") == 0
    assert "export again with --requirement pandas --requirement pyarrow" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "in.csv", "--output", "s3://b/o"], "--input: 'in.csv' is not a location the batch job reads"),
        (["--input", "pvc://Bad_Claim/x", "--output", "s3://b/o"], "is not a PersistentVolumeClaim name"),
        (["--input", "s3://b/i", "--output", "s3://b/o", "--parallelism", "0"], "--parallelism 0"),
        (["--input", "s3://b/i"], "--batch-job, --input URI and --output URI together"),
        (["--input", "s3://b/i", "--output", "s3://b/o", "--canary", "10"], "--canary has no meaning"),
        (["--input", "s3://b/i", "--output", "s3://b/o", "--gpu", "-1"], "gpu"),
    ],
)
def test_bad_batch_job_options_write_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert batch_job(project, *args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (project / "deploy/churn/batch-job.yaml").exists()


SECRET = "hunter2"


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("args", "flag", "words"),
    [
        (["--input", f"s3://AKIAEXAMPLE:{SECRET}@bucket/in", "--output", "s3://bucket/out"], "--input", "credential"),
        (["--input", "s3://bucket/in", "--output", f"s3://AKIAEXAMPLE:{SECRET}@bucket/out"], "--output", "credential"),
        (["--input", f"s3://bucket/in?X-Amz-Signature={SECRET}", "--output", "s3://bucket/o"], "--input", "credential"),
        (["--input", f"s3://bucket/in?secret_key={SECRET}", "--output", "s3://bucket/o"], "--input", "credential"),
        (["--input", "pvc://c/../../etc/passwd", "--output", "s3://bucket/o"], "--input", "'..'"),
        (["--input", "s3://bucket/i", "--output", "pvc://c/out/../../x"], "--output", "'..'"),
        (["--input", "pvc://c/in\n.csv", "--output", "s3://bucket/o"], "--input", "control character"),
        (["--input", "s3:///in", "--output", "s3://bucket/o"], "--input", "names no bucket"),
        (["--input", "pvc:///in", "--output", "s3://bucket/o"], "--input", "names no PersistentVolumeClaim"),
        (["--input", "https://example.com/in.csv", "--output", "s3://bucket/o"], "--input", "is not a location"),
        (["--input", "s3://bucket/i", "--output", "s3://bucket/o", "--image", "a" * 10_000], "--image", "255"),
    ],
)
def test_uri_rule_refuses_in_one_line_and_leaves_deploy_untouched(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], flag: str, words: str
) -> None:
    """An existing deploy/churn/ (manifests and a batch Job) is byte-identical after a refused run, and the
    credential is neither written nor echoed."""
    assert batch_job(project, "--input", "pvc://data/in", "--output", "pvc://data/out") == 0
    assert main(["manifests", "churn", "--root", str(project)]) == 0
    capsys.readouterr()
    before = snapshot(project / "deploy/churn")
    assert batch_job(project, *args) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"jupyter-deploy: error: {flag}") and captured.err.count("\n") == 1
    assert words in captured.err and "Traceback" not in captured.err
    assert SECRET not in captured.err + captured.out
    assert snapshot(project / "deploy/churn") == before


def test_claim_paths_stay_inside_the_claim(project: Path) -> None:
    """``pvc://data//etc/passwd`` once became the pod path /etc/passwd (an absolute part resets a join)."""
    assert batch_job(project, "--input", "pvc://data//etc/passwd", "--output", "pvc://data/out") == 0
    args = job(project)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["--input", "/mnt/pvc/data/etc/passwd", "--output", "/mnt/pvc/data/out"]


@pytest.mark.k8s
def test_the_api_server_accepts_the_job(project: Path, kubeconfig: Path) -> None:
    """v1.20 predates Indexed Jobs (1.21 alpha, 1.24 GA): it accepts the Job and drops ``completionMode``
    (which is why the manifest and README say 1.24); everything else it keeps, on a dry run and for real."""
    from jupyter_deploy.cluster.kube import Cluster

    assert batch_job(project, "--input", "pvc://data/in", "--output", "pvc://data/out", "--parallelism", "3") == 0
    document = job(project)
    cluster = Cluster(kubeconfig)
    # the fixture's server (built from Debian's 1.20 source) reports an empty version: ask the schema instead
    job_fields = cluster.request("GET", "/openapi/v2")["definitions"]["io.k8s.api.batch.v1.JobSpec"]["properties"]
    indexed = "completionMode" in job_fields

    from jupyter_deploy.cluster.kube import dropped_fields
    from jupyter_deploy.exceptions import JupyterDeployError

    if "JD_KUBECONFIG" not in os.environ:
        assert not indexed  # the shared v1.20 server: what the manifest's comment and the README warn about
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    # kubectl create (POST): a server without Indexed Jobs accepts the Job and silently drops the field
    created = cluster.request("POST", jobs, document, [("dryRun", "All")])
    assert dropped_fields(document, created) == ([] if indexed else ["spec.completionMode"])
    assert cluster.get(document, "default") is None
    if not indexed:  # server-side apply refuses the unknown field instead
        with pytest.raises(JupyterDeployError, match="completionMode"):
            cluster.apply(document, "default", dry_run=True)
    # everything else is known to this server: server-side dry run, then for real
    without = json.loads(json.dumps(document))
    del without["spec"]["completionMode"]
    dry = cluster.apply(without, "default", dry_run=True)
    assert dry["action"] == "created (dry run)" and dry["dropped"] == []
    try:
        stored = cluster.apply(without, "default")
        assert stored["action"] == "created" and stored["dropped"] == []
        back = cluster.get(without, "default")
        assert back is not None
        assert back["spec"]["completions"] == back["spec"]["parallelism"] == 3
        container = back["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", "_jd_runtime.batch"]
        assert container["args"] == document["spec"]["template"]["spec"]["containers"][0]["args"]
    finally:
        cluster.delete(without, "default")
