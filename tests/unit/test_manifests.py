"""``jupyter-deploy manifests``: what lands in deploy/NAME/, checked against KServe's own schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.layout import add_to_kustomization
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.exceptions import AnnotationError, NotFoundError, OptionsError

ISVC = "deploy/churn/base/inferenceservice.yaml"


def isvc(root: Path, name: str = "churn") -> dict:
    return yaml.safe_load((root / f"deploy/{name}/base/inferenceservice.yaml").read_text())


def predictor(root: Path) -> dict:
    return isvc(root)["spec"]["predictor"]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_cpu_default_writes_every_file_and_matches_kserve_schema(make_version, isvc_oracle):
    root = make_version(requirements=["numpy==2.1.0"])
    result = write_manifests(root, "churn")
    assert result["changed"] and result["version"] == "v1"
    written = sorted(Path(path).relative_to(root / "deploy/churn").as_posix() for path in result["files"])
    assert written == [
        "Dockerfile",
        "Dockerfile.dockerignore",
        "base/inferenceservice.yaml",
        "base/kustomization.yaml",
        "overlays/dev/kustomization.yaml",
        "overlays/prod/kustomization.yaml",
    ]
    document = isvc(root)
    assert isvc_oracle(document) == []
    assert document["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    container = document["spec"]["predictor"]["containers"][0]
    assert container["image"] == "churn:v1"
    assert container["args"] == ["--http_port", "8080", "--host", "0.0.0.0"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/churn/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    dockerfile = (root / "deploy/churn/Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim" in dockerfile and "FROM ${BASE_IMAGE}" in dockerfile
    assert "COPY deployments/churn/v1/requirements.txt" in dockerfile
    assert "jupyter-deploy==" not in dockerfile  # the version carries its runtime; the tool is never installed
    assert "USER 1000:1000" in dockerfile


def test_gpu_deployment_requests_gpus_tolerates_taint_and_gets_shared_memory(make_version, isvc_oracle):
    root = make_version(options={"gpu": 2})  # from the magic line
    write_manifests(root, "churn", {"gpu_type": "NVIDIA-A100-SXM4-80GB", "toleration": ["dedicated=ml:NoSchedule"]})
    document = isvc(root)
    assert isvc_oracle(document) == []
    spec = document["spec"]["predictor"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
    dockerfile = (root / "deploy/churn/Dockerfile").read_text()
    assert "ARG BASE_IMAGE=nvidia/cuda:" in dockerfile and "download.pytorch.org/whl/cu" in dockerfile


def test_autoscaling_batcher_and_env_references(make_version, isvc_oracle):
    root = make_version()
    write_manifests(
        root,
        "churn",
        {
            "min_replicas": 2,
            "max_replicas": 6,
            "scale_metric": "cpu",
            "scale_target": 70,
            "batcher": True,
            "max_batch_size": 16,
            "max_latency_ms": 50.0,
            "env": ["LOG_LEVEL=info"],
            "env_secret": ["API_TOKEN=churn-creds/token", "db-creds"],
            "env_configmap": ["FEATURES=churn-config/features"],
            "service_account": "churn-sa",
            "namespace": "ml",
        },
    )
    document = isvc(root)
    assert isvc_oracle(document) == []
    spec = document["spec"]["predictor"]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["scaleMetric"], spec["scaleTarget"]) == (
        2,
        6,
        "cpu",
        70,
    )
    assert "canaryTrafficPercent" not in spec
    assert spec["batcher"] == {"maxBatchSize": 16, "maxLatency": 50}
    assert spec["serviceAccountName"] == "churn-sa"
    assert document["metadata"]["namespace"] == "ml"
    env = spec["containers"][0]["env"]
    assert {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "churn-creds", "key": "token"}},
    } in env
    assert {
        "name": "FEATURES",
        "valueFrom": {"configMapKeyRef": {"name": "churn-config", "key": "features"}},
    } in env
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "db-creds"}}]


def test_knative_mode_is_written_explicitly(make_version, isvc_oracle):
    root = make_version()
    write_manifests(root, "churn", {"mode": "Knative", "min_replicas": 0, "max_replicas": 3, "scale_metric": "rps"})
    document = isvc(root)
    assert isvc_oracle(document) == []
    assert document["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert document["spec"]["predictor"]["minReplicas"] == 0


@pytest.mark.parametrize("runtime", ["pytorch", "mlflow"])
def test_stock_runtime_uses_model_format_and_storage_uri(make_version, isvc_oracle, runtime):
    root = make_version()
    write_manifests(root, "churn", {"runtime": runtime, "storage_uri": "s3://models/churn/v1"})
    document = isvc(root)
    assert isvc_oracle(document) == []
    spec = document["spec"]["predictor"]
    assert "containers" not in spec
    assert spec["model"]["modelFormat"] == {"name": runtime}
    assert spec["model"]["storageUri"] == "s3://models/churn/v1"


def test_overlays_render_with_kubectl_kustomize_and_validate(make_version, isvc_oracle):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize) is needed to render the overlays"
    root = make_version()
    write_manifests(root, "churn", {"gpu": 1, "max_replicas": 4, "image": "registry.example.com/ml/churn"})
    rendered = {}
    for environment in ("dev", "prod"):
        output = subprocess.run(
            [kubectl, "kustomize", str(root / f"deploy/churn/overlays/{environment}")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (document,) = [doc for doc in yaml.safe_load_all(output) if doc]
        assert isvc_oracle(document) == [], environment
        rendered[environment] = document
    dev, prod = rendered["dev"], rendered["prod"]
    assert dev["metadata"]["namespace"] == "default-dev" and prod["metadata"]["namespace"] == "default"
    assert (dev["spec"]["predictor"]["minReplicas"], dev["spec"]["predictor"]["maxReplicas"]) == (1, 1)
    assert prod["spec"]["predictor"]["maxReplicas"] == 4
    assert prod["spec"]["predictor"]["containers"][0]["image"] == "registry.example.com/ml/churn:v1"
    assert prod["metadata"]["labels"]["jupyter-deploy/environment"] == "prod"


def test_regeneration_is_byte_identical(make_version, tmp_path):
    options = {
        "gpu": 1,
        "cpu_limit": "1500m",
        "env_secret": ["API_TOKEN=creds/token"],
        "toleration": ["a=b:NoExecute"],
    }
    first = make_version(root=tmp_path / "one")
    second = make_version(root=tmp_path / "two")
    write_manifests(first, "churn", options)
    before = snapshot(first / "deploy/churn")
    again = write_manifests(first, "churn", options)
    assert again["changed"] is False
    assert snapshot(first / "deploy/churn") == before
    write_manifests(second, "churn", options)
    assert snapshot(second / "deploy/churn") == before
    assert not any(b"2025-" in text or b"created" in text for text in before.values())


def test_new_version_changes_only_what_differs(make_version):
    root = make_version()
    write_manifests(root, "churn")
    make_version(version="v2", root=root)
    result = write_manifests(root, "churn")
    assert result["changed"] and result["version"] == "v2"
    assert isvc(root)["spec"]["predictor"]["containers"][0]["image"] == "churn:v2"
    assert write_manifests(root, "churn@v1")["version"] == "v1"


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"gpu": -1}, "--gpu"),
        ({"gpu": 1.5}, "--gpu"),
        ({"min_replicas": 5, "max_replicas": 2}, "--min-replicas"),
        ({"canary": 101}, "--canary"),
        ({"canary": 0}, "--canary"),
        ({"canary": 100}, "--canary"),
        ({"cpu": "-1"}, "--cpu"),
        ({"memory": "-2Gi"}, "--memory"),
        ({"cpu": "2", "cpu_limit": "500m"}, "--cpu-limit"),
        ({"memory": "4Gi", "memory_limit": "2Gi"}, "--memory-limit"),
        ({"shm_size": "-1Gi"}, "--shm-size"),
        ({"runtime": "tensorflow"}, "--runtime"),
        ({"runtime": "stock", "storage_uri": "s3://models/churn/v1"}, "--runtime stock"),
        ({"runtime": "predictor", "storage_uri": "s3://models/churn/v1"}, "--storage-uri"),
        ({"runtime": "mlflow", "storage_uri": "s3://models/churn", "shm_size": "1Gi"}, "--shm-size"),
        ({"runtime": "pytorch", "storage_uri": "s3:///churn"}, "--storage-uri"),
        ({"runtime": "pytorch", "storage_uri": "pvc://Bad_Claim/churn"}, "--storage-uri"),
        ({"runtime": "pytorch", "storage_uri": "https:///churn"}, "--storage-uri"),
        ({"scale_metric": "gpu-util"}, "--scale-metric"),
        ({"scale_metric": "rps"}, "--mode Knative"),
        ({"mode": "Serverless"}, "--mode"),
        ({"env_secret": ["API_TOKEN=hunter2"]}, "--env-secret"),
        ({"env": ["DB_PASSWORD=hunter2"]}, "--env-secret DB_PASSWORD=SECRET_NAME/KEY"),
        ({"memory": "2GB"}, "--memory"),
        ({"runtime": "pytorch"}, "--storage-uri"),
        ({"runtime": "pytorch", "storage_uri": "ftp://host/model"}, "--storage-uri"),
        ({"namespace": "ML_Team"}, "--namespace"),
    ],
)
def test_bad_options_fail_clearly_and_leave_existing_files_untouched(make_version, options, flag):
    root = make_version()
    write_manifests(root, "churn", {"gpu": 1})
    before = snapshot(root / "deploy/churn")
    with pytest.raises(OptionsError) as caught:
        write_manifests(root, "churn", options)
    message = str(caught.value)
    assert flag in message and "\n" not in message
    assert "hunter2" not in message  # a secret value is never echoed
    assert snapshot(root / "deploy/churn") == before
    assert [p.name for p in (root / "deploy").iterdir()] == ["churn"]  # no temporary directory left


def test_invalid_deployment_name_is_refused(make_version):
    root = make_version(name="Churn_Model")
    with pytest.raises(AnnotationError, match="not a valid deployment name.*'churn-model'"):
        write_manifests(root, "Churn_Model")
    assert not (root / "deploy" / "Churn_Model").exists()


def test_no_secret_value_ever_reaches_a_file(make_version):
    root = make_version()
    write_manifests(root, "churn", {"env_secret": ["API_TOKEN=creds/token"], "env": ["MODE=fast"]})
    for text in snapshot(root / "deploy/churn").values():
        assert b"API_TOKEN" not in text or b"secretKeyRef" in text


def test_add_to_kustomization_is_kept_when_regenerating(make_version):
    root = make_version()
    write_manifests(root, "churn")
    base = root / "deploy/churn/base"
    (base / "retrain-cronjob.yaml").write_text("apiVersion: batch/v1\nkind: CronJob\n")
    assert add_to_kustomization(root / "deploy/churn", "retrain-cronjob.yaml") is True
    assert add_to_kustomization(root / "deploy/churn", "retrain-cronjob.yaml") is False
    write_manifests(root, "churn", {"gpu": 1})
    resources = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    assert resources == ["inferenceservice.yaml", "retrain-cronjob.yaml"]
    assert (base / "retrain-cronjob.yaml").is_file()
    with pytest.raises(NotFoundError, match="does not exist"):
        add_to_kustomization(root / "deploy/churn", "missing.yaml")


def test_cli_manifests_json_and_error_exit(make_version, capsys):
    root = make_version()
    code = main(["manifests", "churn", "--root", str(root), "--gpu", "1", "--cpu=500m", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["changed"] is True and data["version"] == "v1" and data["canary"] is None
    assert isvc(root)["spec"]["predictor"]["containers"][0]["resources"]["requests"]["cpu"] == "500m"
    for flags in (["--cpu", "-1"], ["--memory=-2Gi"], ["--cpu", "2", "--cpu-limit", "1"], ["--canary", "5"]):
        assert main(["manifests", "churn", "--root", str(root), *flags]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"jupyter-deploy: error: {flags[-2 if len(flags) > 1 else 0].split('=')[0]}")
        assert "\n" not in err
    assert main(["manifests", "churn", "--root", str(root), "--canary", "150"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("jupyter-deploy: error: --canary") and "\n" not in err
    assert main(["manifests", "churn", "--root", str(root), "--gpu", "two"]) == 1
    assert "--gpu" in capsys.readouterr().err
    assert main(["manifests", "nothing", "--root", str(root)]) == 1
    assert "export it first" in capsys.readouterr().err


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def test_commit_stages_only_the_deployment_and_its_version(make_version, tmp_path):
    root = make_version()
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "ds@example.com")
    _git(root, "config", "user.name", "Data Scientist")
    (root / "notes.txt").write_text("unrelated work in progress\n")
    _git(root, "add", "notes.txt")
    (root / "scratch.py").write_text("x = 1\n")
    result = write_manifests(root, "churn", {"gpu": 1}, commit=True)
    assert result["commit"]
    files = _git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert files and all(f.startswith(("deploy/churn/", "deployments/churn/v1/")) for f in files)
    assert "deploy/churn/base/inferenceservice.yaml" in files and "deployments/churn/v1/version.json" in files
    message = _git(root, "log", "-1", "--format=%B")
    assert "churn v1" in message and "notebooks/churn.ipynb" in message
    assert "notes.txt" in _git(root, "diff", "--cached", "--name-only")  # still staged, not committed
    assert "scratch.py" in _git(root, "status", "--porcelain")
    assert write_manifests(root, "churn", {"gpu": 1}, commit=True)["commit"] is None


def test_commit_outside_git_fails_clearly(make_version):
    root = make_version()
    with pytest.raises(OptionsError, match="not inside a Git repository"):
        write_manifests(root, "churn", commit=True)


def test_credential_names_are_judged_by_their_words(make_version):
    root = make_version()
    write_manifests(root, "churn", {"env": ["TOKENIZERS_PARALLELISM=false", "KEYBOARD_LAYOUT=us"]})
    for name in ("HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY"):
        with pytest.raises(OptionsError, match=f"--env-secret {name}=SECRET_NAME/KEY"):
            write_manifests(root, "churn", {"env": [f"{name}=hunter2"]})
