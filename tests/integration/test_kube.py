"""apply / status / delete against a real kube-apiserver with KServe's CRDs (no KServe controller runs,
so an InferenceService is stored and validated by the server but never becomes Ready)."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster import kube
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.cluster.validate import validate_path
from jupyter_deploy.exceptions import ClusterError, NotFoundError, ValidationError

pytestmark = pytest.mark.k8s


@pytest.fixture
def deployed(make_version, kubeconfig, request):
    """A project with deploy/NAME/ generated; NAME is unique per test; deleted afterwards."""
    name = "isvc-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    root = make_version(name=name, version="v1")
    write_manifests(root, f"{name}@v1", {"mode": "Knative", "max_replicas": 3})
    make_version(name=name, version="v2", root=root)
    write_manifests(root, f"{name}@v2", {"canary": 10, "mode": "Knative", "max_replicas": 3})
    yield root, name
    with contextlib.suppress(NotFoundError):
        kube.delete(root, name, kubeconfig=kubeconfig)


def test_apply_dry_run_reapply_canary_status_delete(deployed, kubeconfig):
    root, name = deployed
    dry = kube.apply(root, name, dry_run=True, kubeconfig=kubeconfig)
    assert [item["action"] for item in dry["objects"]] == ["created (dry run)"]
    with pytest.raises(NotFoundError, match="apply it first"):
        kube.status(root, name, kubeconfig=kubeconfig)

    first = kube.apply(root, name, kubeconfig=kubeconfig)
    assert first["objects"][0]["action"] == "created" and first["dropped"] == []
    again = kube.apply(root, name, kubeconfig=kubeconfig)
    assert again["objects"][0]["action"] == "unchanged"

    write_manifests(root, name, {"canary": 50, "mode": "Knative", "max_replicas": 3})
    assert kube.apply(root, name, dry_run=True, kubeconfig=kubeconfig)["objects"][0]["action"] == (
        "configured (dry run)"
    )
    assert kube.status(root, name, kubeconfig=kubeconfig)["canary"] == 10  # dry run changed nothing
    assert kube.apply(root, name, kubeconfig=kubeconfig)["objects"][0]["action"] == "configured"
    state = kube.status(root, name, kubeconfig=kubeconfig)
    assert state["canary"] == 50 and state["version"] == "v2" and state["ready"] is False
    assert state["namespace"] == "default"

    deleted = kube.delete(root, name, kubeconfig=kubeconfig)
    assert deleted["objects"][0]["deleted"] is True
    with pytest.raises(NotFoundError):
        kube.status(root, name, kubeconfig=kubeconfig)


def test_typo_is_caught_by_validate_and_reported_as_dropped_by_apply(deployed, kubeconfig):
    root, name = deployed
    path = root / f"deploy/{name}/base/inferenceservice.yaml"
    document = yaml.safe_load(path.read_text())
    document["spec"]["predictor"]["minReplica"] = 2
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    assert [problem.path for problem in validate_path(path)] == ["spec.predictor.minReplica"]
    with pytest.raises(ValidationError, match="minReplica"):
        kube.apply(root, name, kubeconfig=kubeconfig)
    result = kube.apply(root, name, kubeconfig=kubeconfig, validate=False)
    assert result["objects"][0]["dropped"] == ["spec.predictor.minReplica"]
    assert result["dropped"] == [f"InferenceService/{name}: spec.predictor.minReplica"]


def test_server_side_apply_uses_our_field_manager(deployed, kubeconfig):
    root, name = deployed
    kube.apply(root, name, kubeconfig=kubeconfig)
    cluster = kube.Cluster(kubeconfig)
    stored = cluster.get(kube.deployment_documents(root, name)[0], "default")
    assert stored is not None
    managers = {entry["manager"]: entry["operation"] for entry in stored["metadata"]["managedFields"]}
    assert managers == {"jupyter-deploy": "Apply"}


def test_namespace_option_overrides_the_manifest(deployed, kubeconfig):
    root, name = deployed
    cluster = kube.Cluster(kubeconfig)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jd-staging"}}
    cluster.apply(namespace, "")
    result = kube.apply(root, name, namespace="jd-staging", kubeconfig=kubeconfig)
    assert result["namespace"] == "jd-staging"
    assert kube.status(root, name, namespace="jd-staging", kubeconfig=kubeconfig)["namespace"] == "jd-staging"
    kube.delete(root, name, namespace="jd-staging", kubeconfig=kubeconfig)


def test_cli_apply_status_delete(deployed, kubeconfig, capsys):
    root, name = deployed
    common = ["--root", str(root), "--kubeconfig", str(kubeconfig)]
    assert main(["apply", name, "--dry-run", *common]) == 0
    assert "created (dry run)" in capsys.readouterr().out
    assert main(["apply", name, "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["objects"][0]["action"] == "created"
    assert main(["status", name, *common]) == 0
    out = capsys.readouterr().out
    assert "not ready" in out and "canary 10%" in out
    assert main(["delete", name, *common]) == 0
    assert "deleted" in capsys.readouterr().out
    assert main(["status", name, *common]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_missing_kubeconfig_and_unreachable_cluster_are_one_line_errors(deployed, tmp_path, monkeypatch):
    root, name = deployed
    with pytest.raises(ClusterError, match="does not exist") as missing:
        kube.apply(root, name, kubeconfig=tmp_path / "nope")
    assert "\n" not in str(missing.value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterError, match="no kubeconfig found"):
        kube.status(root, name)

    unreachable = tmp_path / "unreachable"
    unreachable.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "x", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "current-context": "x",
            }
        )
    )
    with pytest.raises(
        ClusterError, match=re.escape("cannot reach the Kubernetes API server at https://127.0.0.1:1")
    ) as down:
        kube.apply(root, name, kubeconfig=unreachable)
    assert "\n" not in str(down.value)
    assert main(["status", name, "--root", str(root), "--kubeconfig", str(unreachable)]) == 1


def test_cluster_without_kserve_is_told_to_install_it(kubeconfig):
    cluster = kube.Cluster(kubeconfig)
    with pytest.raises(ClusterError, match=re.escape("does not serve serving.kserve.io/v9 InferenceService")):
        cluster.resource("serving.kserve.io/v9", "InferenceService")


def test_unknown_context_is_a_cluster_error(deployed, kubeconfig):
    root, name = deployed
    with pytest.raises(ClusterError, match="nowhere"):
        kube.apply(root, name, context="nowhere", kubeconfig=kubeconfig)


# -- what the real API server makes of every kind of manifest we write -----------------------------------
BUCKET = "s3://models-bucket/isvc"


def _server_dry_run(kubeconfig, document: dict) -> dict:
    """POST with dryRun=All: the server validates against the CRD's schema and prunes unknown fields."""
    cluster = kube.Cluster(kubeconfig)
    namespace = document["metadata"].get("namespace", "default")
    path = f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices"
    return cluster.request("POST", path, document, query=[("dryRun", "All")])


def _scenario(root, name, kind, make_version, model_artifact) -> None:
    """Write deploy/NAME/ for one kind of manifest (see the parametrization below)."""
    if kind == "predictor-gpu":
        make_version(name=name, root=root)
        write_manifests(root, name, {"gpu": 2, "gpu_type": "NVIDIA-H200", "cpu_limit": "4", "memory_limit": "8Gi"})
    elif kind.startswith("stock-"):
        model = kind.removeprefix("stock-")
        make_version(name=name, root=root, artifacts=[model_artifact(model)])
        options = {"runtime": "stock", "storage_uri": f"{BUCKET}/{model}", "gpu": 1 if model == "huggingface" else 0}
        write_manifests(root, name, options)
    elif kind == "standard-canary":
        make_version(name=name, version="v1", root=root, artifacts=[model_artifact("xgboost")])
        options = {"runtime": "stock", "max_replicas": 3}
        write_manifests(root, f"{name}@v1", {**options, "storage_uri": f"{BUCKET}/v1"})
        make_version(name=name, version="v2", root=root, artifacts=[model_artifact("xgboost")])
        write_manifests(root, f"{name}@v2", {**options, "storage_uri": f"{BUCKET}/v2", "canary": 20})
    elif kind == "knative-canary":
        make_version(name=name, version="v1", root=root)
        write_manifests(root, f"{name}@v1", {"mode": "Knative"})
        make_version(name=name, version="v2", root=root)
        write_manifests(root, f"{name}@v2", {"mode": "Knative", "canary": 30})


@pytest.mark.parametrize(
    "kind",
    ["predictor-gpu", "stock-xgboost", "stock-lightgbm", "stock-huggingface", "standard-canary", "knative-canary"],
)
def test_server_accepts_what_we_write_and_keeps_every_field(kind, kubeconfig, make_version, model_artifact, tmp_path):
    name = f"dry-{kind}"
    root = tmp_path / "project"
    _scenario(root, name, kind, make_version, model_artifact)
    sent = yaml.safe_load((root / f"deploy/{name}/base/inferenceservice.yaml").read_text())
    returned = _server_dry_run(kubeconfig, sent)
    # 1.20 prunes unknown fields silently and applies the CRD's defaults: the spec must come back as sent
    assert returned["spec"] == sent["spec"]
    for key in ("labels", "annotations"):
        assert returned["metadata"][key] == sent["metadata"][key]
    if kind == "standard-canary":
        assert returned["spec"]["canary"][0]["predictor"]["name"] == "v2"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda canary: canary["predictor"]["model"].pop("name"), "spec.canary.predictor.model.name: Required"),
        (lambda canary: canary.update(trafficPercent=150), "spec.canary.trafficPercent"),
        (lambda canary: canary["predictor"].update(name="V2"), "spec.canary.predictor.name"),
    ],
)
def test_server_refuses_a_broken_canary_as_our_oracle_does(
    change, words, kubeconfig, make_version, model_artifact, tmp_path, isvc_oracle
):
    root = tmp_path / "project"
    name = "dry-broken-canary"
    _scenario(root, name, "standard-canary", make_version, model_artifact)
    document = yaml.safe_load((root / f"deploy/{name}/base/inferenceservice.yaml").read_text())
    change(document["spec"]["canary"][0])
    assert isvc_oracle(document) != []
    with pytest.raises(ValidationError, match=re.escape(words)):
        _server_dry_run(kubeconfig, document)
