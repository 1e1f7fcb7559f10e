"""Canaries in both KServe v0.20 modes, promotion, and the refusals that leave deploy/NAME/ untouched.

Oracles: the CRD schema with unknown fields rejected (``isvc_oracle``, independent of validate.py), the
shape KServe's webhook asks for written out here by hand (from kserve pkg/apis/serving/v1beta1
inference_service_validation.go validateCanarySpecs), and ``kubectl kustomize`` for the overlays.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.cluster.validate import validate_document, validate_path
from jupyter_deploy.exceptions import OptionsError
from jupyter_deploy.versions.store import current_version

BUCKET = "s3://models-bucket/churn"


def isvc(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/churn/base/inferenceservice.yaml").read_text())


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def stock_v1_v2(make_version, model_artifact):
    """v1 deployed on KServe's xgboost runtime (Standard mode), v2 exported since (CURRENT moved to v2)."""
    root = make_version(version="v1", artifacts=[model_artifact("xgboost")])
    write_manifests(root, "churn@v1", {"runtime": "stock", "storage_uri": f"{BUCKET}/v1", "max_replicas": 4})
    make_version(version="v2", root=root, artifacts=[model_artifact("xgboost")])
    return root


def stock_canary(root: Path, percent: int, **options) -> dict:
    options = {"runtime": "stock", "storage_uri": f"{BUCKET}/v2", "max_replicas": 4, "canary": percent, **options}
    return write_manifests(root, "churn@v2", options)


def test_standard_mode_writes_spec_canary_beside_the_stable_predictor(stock_v1_v2, isvc_oracle):
    root = stock_v1_v2
    result = stock_canary(root, 10)
    assert result["canary"] == {"version": "v2", "percent": 10, "stable": "v1"}
    document = isvc(root)
    assert isvc_oracle(document) == [] and validate_path(root / "deploy") == []
    spec = document["spec"]
    assert document["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    stable = spec["predictor"]
    assert "name" not in stable and "canaryTrafficPercent" not in stable
    assert (stable["minReplicas"], stable["maxReplicas"]) == (1, 4)
    assert stable["model"]["storageUri"] == f"{BUCKET}/v1"
    (canary,) = spec["canary"]
    assert canary["trafficPercent"] == 10
    # KServe's webhook: a name, a model, no autoscaling fields (a canary runs fixed replicas)
    assert canary["predictor"]["name"] == "v2"
    assert canary["predictor"]["model"] == {
        "modelFormat": {"name": "xgboost"},
        "name": "kserve-container",  # the CRD requires it in a canary's model
        "storageUri": f"{BUCKET}/v2",
        "resources": stable["model"]["resources"],
        "startupProbe": stable["model"]["startupProbe"],
    }
    assert not {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget"} & set(canary["predictor"])
    annotations = document["metadata"]["annotations"]
    assert (annotations["jupyter-deploy/stable-version"], annotations["jupyter-deploy/canary-version"]) == ("v1", "v2")
    assert current_version(root, "churn") == "v2"  # export moved CURRENT; the split is against what deploy/ serves

    before = snapshot(root / "deploy/churn")
    assert stock_canary(root, 10)["changed"] is False and snapshot(root / "deploy/churn") == before
    stock_canary(root, 50)  # a bigger share: still split against v1
    assert isvc(root)["spec"]["predictor"]["model"]["storageUri"] == f"{BUCKET}/v1"
    assert isvc(root)["spec"]["canary"][0]["trafficPercent"] == 50


def test_dev_overlay_drops_the_split(stock_v1_v2, isvc_oracle):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize) is needed to render the overlays"
    root = stock_v1_v2
    stock_canary(root, 20)
    rendered = {}
    for environment in ("dev", "prod"):
        output = subprocess.run(
            [kubectl, "kustomize", str(root / f"deploy/churn/overlays/{environment}")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (rendered[environment],) = [doc for doc in yaml.safe_load_all(output) if doc]
        assert isvc_oracle(rendered[environment]) == []
        assert validate_document(rendered[environment]) == []
    assert "canary" not in rendered["dev"]["spec"]
    assert rendered["prod"]["spec"]["canary"][0]["trafficPercent"] == 20


def test_promote_rewrites_to_the_new_version_alone_deterministically(stock_v1_v2, make_version, model_artifact):
    root = stock_v1_v2
    stock_canary(root, 10)
    (root / "deployments/churn/CURRENT").write_text("v1\n")  # CURRENT may lag; promotion moves it
    # options come from the CLI, the magic line or deploy.yaml as always; runtime, storage and mode from the canary
    result = main(["manifests", "churn", "--promote", "--max-replicas", "4", "--root", str(root)])
    assert result == 0
    document = isvc(root)
    assert "canary" not in document["spec"]
    assert document["spec"]["predictor"]["model"]["storageUri"] == f"{BUCKET}/v2"  # carried from the canary
    assert "jupyter-deploy/canary-version" not in document["metadata"]["annotations"]
    assert document["metadata"]["labels"]["app.kubernetes.io/version"] == "v2"
    assert current_version(root, "churn") == "v2"
    # the same bytes as writing v2 alone from scratch
    fresh = make_version(version="v2", root=root / "fresh", artifacts=[model_artifact("xgboost")])
    write_manifests(fresh, "churn@v2", {"runtime": "stock", "storage_uri": f"{BUCKET}/v2", "max_replicas": 4})
    promoted = snapshot(root / "deploy/churn")
    assert promoted == snapshot(fresh / "deploy/churn")
    with pytest.raises(OptionsError, match="no canary to promote"):
        write_manifests(root, "churn", promote=True)
    assert snapshot(root / "deploy/churn") == promoted


def test_knative_mode_keeps_canary_traffic_percent(make_version, isvc_oracle):
    root = make_version(version="v1")
    write_manifests(root, "churn", {"mode": "Knative"})
    make_version(version="v2", root=root)
    write_manifests(root, "churn@v2", {"mode": "Knative", "canary": 25})
    document = isvc(root)
    assert isvc_oracle(document) == [] and validate_path(root / "deploy") == []
    predictor = document["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 25 and "canary" not in document["spec"]
    assert predictor["containers"][0]["image"] == "churn:v2"  # Knative keeps the rest on v1's revision
    assert document["metadata"]["annotations"]["jupyter-deploy/stable-version"] == "v1"
    write_manifests(root, "churn", promote=True)  # the mode is carried over from deploy/churn/
    document = isvc(root)
    assert document["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert "canaryTrafficPercent" not in document["spec"]["predictor"]
    assert document["spec"]["predictor"]["containers"][0]["image"] == "churn:v2"


@pytest.mark.parametrize(
    ("setup", "spec", "options", "words"),
    [
        ("none", "churn@v2", {"canary": 10, "mode": "Knative"}, "serves none yet"),
        ("knative", "churn@v1", {"canary": 10, "mode": "Knative"}, "already serves v1"),
        ("knative", "churn@v2", {"canary": 0, "mode": "Knative"}, "1 to 99"),
        ("knative", "churn@v2", {"canary": 100, "mode": "Knative"}, "1 to 99"),
        ("knative", "churn@v2", {"canary": 10}, "--mode Knative"),  # deployed mode cannot change
        ("standard", "churn@v2", {"canary": 10}, "use --mode Knative"),  # predictor image in Standard mode
        ("standard", "churn@v2", {"canary": 10, "runtime": "stock", "storage_uri": f"{BUCKET}/v2"}, "predictor image"),
        ("knative", "churn", {"promote": True}, "no canary to promote"),
        ("knative", "churn@v2", {"promote": True, "canary": 5}, "NAME alone"),
    ],
)
def test_canary_refusals_are_one_line_and_touch_nothing(make_version, model_artifact, setup, spec, options, words):
    root = make_version(version="v1", artifacts=[model_artifact("xgboost")])
    make_version(version="v2", root=root, artifacts=[model_artifact("xgboost")])
    if setup != "none":
        write_manifests(root, "churn@v1", {"mode": "Knative"} if setup == "knative" else {})
    before = snapshot(root / "deploy") if (root / "deploy").exists() else {}
    options = dict(options)
    promote = options.pop("promote", False)
    with pytest.raises(OptionsError) as caught:
        write_manifests(root, spec, options, promote=promote)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert (snapshot(root / "deploy") if (root / "deploy").exists() else {}) == before
    assert current_version(root, "churn") == "v2"


def _standard(spec: dict) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "churn", "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": spec,
    }


MODEL = {"modelFormat": {"name": "xgboost"}, "storageUri": f"{BUCKET}/v1"}
CANARY = {
    "trafficPercent": 10,
    "predictor": {"name": "v2", "model": {**MODEL, "name": "kserve-container", "storageUri": f"{BUCKET}/v2"}},
}


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (lambda d: d["spec"]["predictor"].update(canaryTrafficPercent=10), "spec.predictor.canaryTrafficPercent",
         "use spec.canary"),
        (lambda d: d["metadata"]["annotations"].update({"serving.kserve.io/deploymentMode": "Knative"}),
         "spec.canary", "only Standard mode"),
        (lambda d: d["spec"]["canary"][0]["predictor"].pop("name"), "spec.canary[0].predictor.name", "required"),
        (lambda d: d["spec"]["canary"][0]["predictor"].update(maxReplicas=3), "spec.canary[0].predictor.maxReplicas",
         "fixed replicas"),
        (lambda d: d["spec"]["canary"][0].update(trafficPercent=100), "spec.canary[0].trafficPercent", "1 to 99"),
        (lambda d: d["spec"].update(predictor={"containers": [{"name": "kserve-container", "image": "churn:v1"}]}),
         "spec.predictor", "loads its model from storage"),
        (lambda d: d["spec"]["predictor"].update(name="v2"), "spec.canary[0].predictor.name", "already the name"),
    ],
)  # fmt: skip
def test_validate_applies_kserve_canary_rules(change, where, words):
    document = _standard({"predictor": {"model": dict(MODEL)}, "canary": [yaml.safe_load(yaml.safe_dump(CANARY))]})
    assert validate_document(document) == []
    change(document)
    problems = [problem for problem in validate_document(document) if problem.path == where]
    assert problems and words in problems[0].message, validate_document(document)


def test_retrain_refuses_an_impossible_canary_before_running_the_notebook(make_version):
    import json

    from jupyter_deploy.retrain.run import retrain

    root = make_version(version="v1")
    notebook = root / "churn.ipynb"
    cell = {
        "cell_type": "code",
        "id": "predict",
        "metadata": {},
        "source": "%%deploy predict --name churn\ndef predict(x):\n    return x\n",
        "outputs": [],
        "execution_count": None,
    }
    notebook.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}))
    with pytest.raises(OptionsError, match="serves none yet"):
        retrain(notebook, root=root, canary=10)
    write_manifests(root, "churn")  # Standard mode, the predictor image
    with pytest.raises(OptionsError, match="use --mode Knative"):
        retrain(notebook, root=root, canary=10)
    assert not (root / ".jupyter-deploy").exists() and not (root / "mlflow.db").exists()  # nothing ran
