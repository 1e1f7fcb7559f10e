"""``jupyter-deploy validate``: every problem reported with its path in the document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.cluster.validate import validate_document, validate_path

ISVC = "deploy/churn/base/inferenceservice.yaml"


@pytest.fixture
def generated(make_version) -> Path:
    root = make_version()
    write_manifests(root, "churn", {"gpu": 1, "max_replicas": 3, "cpu_limit": "2"})
    return root


def edit(root: Path, change) -> Path:
    path = root / ISVC
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def paths(problems) -> list[str]:
    return [problem.path for problem in problems]


def test_generated_manifests_are_valid(generated):
    assert validate_path(generated / "deploy") == []
    assert validate_path(generated / ISVC) == []


def test_misspelled_field_is_an_unknown_field_with_a_suggestion(generated):
    def typo(doc):
        doc["spec"]["predictor"]["minReplica"] = doc["spec"]["predictor"].pop("minReplicas")

    problems = validate_path(edit(generated, typo))
    assert paths(problems) == ["spec.predictor.minReplica"]
    assert "unknown field 'minReplica'" in problems[0].message and "minReplicas" in problems[0].message


def test_typo_deep_inside_a_container(generated):
    def typo(doc):
        doc["spec"]["predictor"]["containers"][0]["readinesProbe"] = {}

    assert paths(validate_path(edit(generated, typo))) == ["spec.predictor.containers[0].readinesProbe"]


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (
            lambda d: d["spec"]["predictor"].update(minReplicas=5, maxReplicas=2),
            "spec.predictor.minReplicas",
            "greater",
        ),
        (
            lambda d: d["spec"]["predictor"].update(canaryTrafficPercent=10),
            "spec.predictor.canaryTrafficPercent",
            "use spec.canary",
        ),
        (
            lambda d: (
                d["metadata"]["annotations"].update({"serving.kserve.io/deploymentMode": "Knative"}),
                d["spec"]["predictor"].update(canaryTrafficPercent=150),
            ),
            "spec.predictor.canaryTrafficPercent",
            "1 to 99",
        ),
        (
            lambda d: d["spec"]["predictor"]["containers"][0]["resources"]["requests"].update(cpu="-1"),
            "spec.predictor.containers[0].resources.requests.cpu",
            "negative",
        ),
        (
            lambda d: d["spec"]["predictor"]["containers"][0]["resources"]["limits"].update(memory="-2Gi"),
            "spec.predictor.containers[0].resources.limits.memory",
            "negative",
        ),
        (
            lambda d: d["spec"]["predictor"]["containers"][0]["resources"]["limits"].update(cpu="500m"),
            "spec.predictor.containers[0].resources.limits.cpu",
            "below the request",
        ),
        (
            lambda d: d["spec"]["predictor"]["containers"][0]["resources"]["limits"].update(memory="1e9"),
            "spec.predictor.containers[0].resources.limits.memory",
            "below the request 2Gi",
        ),
        (lambda d: d["spec"]["predictor"].update(scaleMetric="rps"), "spec.predictor.scaleMetric", "Knative"),
        (
            lambda d: d["metadata"]["annotations"].update({"serving.kserve.io/deploymentMode": "Serverles"}),
            "metadata.annotations.serving.kserve.io/deploymentMode",
            "Standard or Knative",
        ),
        (
            lambda d: d["metadata"]["annotations"].pop("serving.kserve.io/deploymentMode"),
            "metadata.annotations.serving.kserve.io/deploymentMode",
            "explicitly",
        ),
        (lambda d: d["metadata"].update(name="Churn_1"), "metadata.name", "not a valid name"),
        (
            lambda d: d["metadata"]["labels"].update(team="data science"),
            "metadata.labels.team",
            "label value",
        ),
        (
            lambda d: d["spec"]["predictor"]["containers"][0]["resources"]["requests"].update(memory="2GB"),
            "spec.predictor.containers[0].resources.requests.memory",
            "",
        ),
        (
            lambda d: d["spec"]["predictor"]["containers"][0].update(env=[{"name": "API_KEY", "value": "hunter2"}]),
            "spec.predictor.containers[0].env[0].value",
            "Secret",
        ),
    ],
)
def test_webhook_and_content_rules(generated, change, where, words):
    problems = validate_path(edit(generated, change))
    assert where in paths(problems), problems
    assert words in " ".join(problem.message for problem in problems if problem.path == where)


def test_storage_uri_scheme_and_single_implementation():
    document = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "churn", "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "pytorch"}, "storageUri": "ftp://host/m"}}},
    }
    assert paths(validate_document(document)) == ["spec.predictor.model.storageUri"]
    document["spec"]["predictor"]["containers"] = [{"name": "kserve-container", "image": "x:1"}]
    document["spec"]["predictor"]["model"]["storageUri"] = "gs://bucket/model"
    assert paths(validate_document(document)) == ["spec.predictor"]


def test_builtin_kinds_use_strict_kubernetes_schemas():
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"a": "b"},
    }
    assert validate_document(config_map) == []
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "churn-retrain"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "retrain", "image": "churn:v1", "args": ["retrain"]}],
                        }
                    }
                }
            },
        },
    }
    assert validate_document(cronjob) == []
    cronjob["spec"]["schedul"] = cronjob["spec"].pop("schedule")
    found = paths(validate_document(cronjob))
    assert "spec.schedul" in found


def test_broken_yaml_and_missing_kustomization_resource(generated):
    (generated / ISVC).write_text("apiVersion: [unclosed\n")
    problems = validate_path(generated / "deploy/churn")
    assert any(p.file == "base/inferenceservice.yaml" and "not valid YAML" in p.message for p in problems)
    (generated / ISVC).unlink()
    problems = validate_path(generated / "deploy/churn")
    assert any(p.file == "base/kustomization.yaml" and p.path == "resources[0]" for p in problems)


def test_cli_validate_exit_codes_and_json(generated, capsys):
    assert main(["validate", "--root", str(generated)]) == 0
    assert "valid" in capsys.readouterr().out
    edit(generated, lambda d: d["spec"]["predictor"].update(minReplica=1))
    assert main(["validate", str(generated / "deploy/churn"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert data["problems"][0]["path"] == "spec.predictor.minReplica"
    assert data["problems"][0]["file"] == "base/inferenceservice.yaml"
    assert main(["validate", str(generated / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
