"""The startup, readiness and liveness probes ``--startup-timeout`` writes, sent to a real kube-apiserver with
KServe's InferenceService CRD (dry run): the server accepts them and keeps every field (1.20 prunes what its
schema does not know, silently, so what comes back is compared with what was sent). No KServe controller runs
here, so no pod is started: that the kubelet honours the probes is Kubernetes' own contract."""

from __future__ import annotations

import pytest
import yaml

from jupyter_deploy.cluster import kube
from jupyter_deploy.cluster.manifests import write_manifests

pytestmark = pytest.mark.k8s

BUCKET = "s3://models-bucket/probes"


def _dry_run(kubeconfig, document: dict) -> dict:
    cluster = kube.Cluster(kubeconfig)
    namespace = document["metadata"].get("namespace", "default")
    path = f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices"
    return cluster.request("POST", path, document, query=[("dryRun", "All")])


def _containers(spec: dict) -> list[dict]:
    """Every serving container of an InferenceService spec (the predictor's and a canary's)."""
    predictors = [spec["predictor"], *(entry["predictor"] for entry in spec.get("canary", []))]
    return [predictor.get("model") or predictor["containers"][0] for predictor in predictors]


@pytest.mark.parametrize("kind", ["predictor", "knative-canary", "stock-canary"])
def test_server_keeps_the_probes_we_send(kind, kubeconfig, make_version, model_artifact, tmp_path):
    name = f"probes-{kind}"
    root = tmp_path / "project"
    if kind == "predictor":
        make_version(name=name, root=root)
        write_manifests(root, name, {"startup_timeout": "25m"})
    elif kind == "knative-canary":
        for version, extra in (("v1", {}), ("v2", {"canary": 30})):
            make_version(name=name, version=version, root=root)
            write_manifests(root, f"{name}@{version}", {"mode": "Knative", "startup_timeout": "1h", **extra})
    else:
        for version, extra in (("v1", {}), ("v2", {"canary": 20})):
            make_version(name=name, version=version, root=root, artifacts=[model_artifact("xgboost")])
            options = {"runtime": "stock", "storage_uri": f"{BUCKET}/{version}", "startup_timeout": "90s", **extra}
            write_manifests(root, f"{name}@{version}", options)
    sent = yaml.safe_load((root / f"deploy/{name}/base/inferenceservice.yaml").read_text())
    returned = _dry_run(kubeconfig, sent)
    assert returned["spec"] == sent["spec"]
    containers = _containers(returned["spec"])
    # a Knative canary is one predictor (Knative keeps the old revision); a Standard one is two
    assert len(containers) == (2 if kind == "stock-canary" else 1)
    for container in containers:
        assert container["startupProbe"]["httpGet"]["port"] == 8080
        assert container["startupProbe"]["failureThreshold"] >= 2
