"""One canary range and one quantity rule across the package (manifests, validate, retrain, schedule).

Oracle for quantities: Kubernetes' own grammar as the InferenceService CRD states it (its ``pattern`` for
``resources.requests``), read from the vendored schema here rather than from our module; and the amounts
Kubernetes documents (``500m`` is half a CPU, ``1Gi`` is 2**30 bytes, ``1e3`` is 1000).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from k8s_fixtures import VENDORED_SCHEMA

from jupyter_deploy.cluster.rules import canary_problem, quantity_problem, quantity_value
from jupyter_deploy.cluster.schedule import ScheduleRequest, _check
from jupyter_deploy.cluster.validate import validate_document
from jupyter_deploy.exceptions import JupyterDeployError
from jupyter_deploy.retrain.run import retrain


def crd_quantity_pattern() -> re.Pattern[str]:
    schema = json.loads(VENDORED_SCHEMA.read_text(encoding="utf-8"))
    container = schema["properties"]["spec"]["properties"]["predictor"]["properties"]["containers"]["items"]
    requests = container["properties"]["resources"]["properties"]["requests"]["additionalProperties"]
    return re.compile(requests["pattern"])


@pytest.mark.parametrize(
    "text", ["1", "500m", "1e3", "1E3", "2Gi", "1.5G", ".5", "+1", "0", "100n", "1Ei", "2GB", "x", ""]
)
def test_quantity_grammar_is_the_crds(text):
    accepted = quantity_problem(text) is None or "negative" in str(quantity_problem(text))
    assert accepted == bool(crd_quantity_pattern().match(text))


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("500m", Decimal("0.5")),
        ("2", 2),
        ("1e3", 1000),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1.5Ki", 1536),
        ("-2Gi", -(2**31)),
    ],
)
def test_quantity_amounts(text, amount):
    assert quantity_value(text) == amount


@pytest.mark.parametrize("value", ["-1", "-2Gi", "-0.5"])
def test_negative_amounts_are_refused(value):
    assert "negative" in str(quantity_problem(value))


def test_schedule_uses_the_same_quantity_rule():
    _check(ScheduleRequest(notebook="n.ipynb", cron="@daily", cpu="1e3", memory="8Gi"))  # schedule once refused 1e3
    for cpu in ("-1", "2 cores"):
        with pytest.raises(JupyterDeployError, match="--cpu") as caught:
            _check(ScheduleRequest(notebook="n.ipynb", cron="@daily", cpu=cpu))
        assert str(caught.value) == f"--cpu {quantity_problem(cpu)}"


@pytest.mark.parametrize("percent", [-5, 0, 1, 50, 99, 100, 150])
def test_one_canary_range_everywhere(percent, tmp_path):
    allowed = canary_problem(percent) is None
    assert allowed == (1 <= percent <= 99)
    request = ScheduleRequest(notebook="n.ipynb", cron="@daily", canary=percent)
    if allowed:
        _check(request)
    else:
        with pytest.raises(JupyterDeployError, match="1 to 99"):
            _check(request)
        with pytest.raises(JupyterDeployError, match="1 to 99"):
            retrain(tmp_path / "missing.ipynb", root=tmp_path, canary=percent)  # refused before anything runs
    document = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "churn", "annotations": {"serving.kserve.io/deploymentMode": "Knative"}},
        "spec": {"predictor": {"canaryTrafficPercent": percent, "containers": [{"name": "c", "image": "c:1"}]}},
    }
    problems = [p for p in validate_document(document) if p.path == "spec.predictor.canaryTrafficPercent"]
    assert (problems == []) == allowed
