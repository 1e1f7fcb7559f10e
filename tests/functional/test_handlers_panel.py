"""The panel's REST calls that replace rules once re-implemented in the browser, and the actions it gained:
live export (``execute``), the tag a role needs, the notebook's retraining parameters, cancelling a retrain."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from rest_client import DOUBLER, TINY, call, fetch_error, server_config, with_notebooks


@pytest.fixture
def jp_server_config():
    return server_config()


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    return with_notebooks(jp_root_dir, {**DOUBLER, **TINY})


async def test_tag_route_writes_the_grammar_and_joins_the_only_deployment(jp_fetch, project):
    body = {"path": "doubler.ipynb", "role": "postprocess", "tags": ["keep", "deploy:example"]}
    _, result = await call(jp_fetch, "POST", "tag", body=body)
    assert result == {"tags": ["keep", "deploy:postprocess:doubler"], "role": "postprocess", "name": "doubler"}

    _, named = await call(jp_fetch, "POST", "tag", body={**body, "name": "other"})
    assert named["tags"] == ["keep", "deploy:postprocess:other"]
    _, removed = await call(jp_fetch, "POST", "tag", body={**body, "role": ""})
    assert removed == {"tags": ["keep"], "role": None, "name": None}

    code, error = await fetch_error(
        jp_fetch, "jupyter-deploy", "tag", method="POST", body=json.dumps({**body, "role": "predcit"})
    )
    assert code == 400 and "unknown role 'predcit'" in error["message"]
    _, info = await call(jp_fetch, "GET", "info")
    assert "postprocess" in info["roles"] and "predcit" not in info["roles"]


async def test_parameters_route_lists_what_retrain_accepts(jp_fetch, project):
    response = await jp_fetch("jupyter-deploy", "parameters", params={"path": "tiny.ipynb"})
    listed = json.loads(response.body)
    by_name = {item["name"]: item for item in listed["parameters"]}
    assert by_name["scale"] == {"name": "scale", "type": "float", "default": "2.0"}
    assert by_name["explode"]["type"] == "bool"
    response = await jp_fetch("jupyter-deploy", "parameters", params={"path": "doubler.ipynb"})
    assert json.loads(response.body)["parameters"] == []


@pytest.mark.kernel
async def test_export_refuses_live_objects_without_a_kernel_and_executes_on_request(jp_fetch, project):
    # tiny's predict multiplies by `weights`, built by a cell: only a run notebook has it
    code, error = await fetch_error(
        jp_fetch, "jupyter-deploy", "export", method="POST", body=json.dumps({"path": "tiny.ipynb"})
    )
    assert 400 <= code < 500, error
    assert not (project / "deployments" / "tiny" / "v1").exists()

    code, result = await call(jp_fetch, "POST", "export", body={"path": "tiny.ipynb", "execute": True})
    assert (code, result["created"], result["info"]["version"]) == (201, True, "v1")
    assert result["path"] == "deployments/tiny/v1"
    assert result["info"]["parity"]["status"] == "passed"


@pytest.mark.kernel
async def test_a_running_retrain_is_cancelled_and_its_run_ends_failed(jp_fetch, project):
    notebook = json.loads((project / "tiny.ipynb").read_text())
    [training] = [cell for cell in notebook["cells"] if cell["id"] == "c3"]
    training["source"] = "import time\ntime.sleep(600)\n" + "".join(training["source"])
    (project / "tiny.ipynb").write_text(json.dumps(notebook))

    _, job = await call(jp_fetch, "POST", "retrain", body={"path": "tiny.ipynb", "parameters": {"scale": 3}})
    for _ in range(600):
        _, job = await call(jp_fetch, "GET", "retrain", job["id"])
        if (job["cell"] or "").endswith("import time") or job["status"] != "running":
            break
        await asyncio.sleep(0.2)
    assert job["status"] == "running" and job["cell"].endswith("import time"), job
    started = time.monotonic()
    code, cancelled = await call(jp_fetch, "DELETE", "retrain", job["id"])
    assert time.monotonic() - started < 60
    assert code == 200
    assert (cancelled["status"], cancelled["cancelled"]) == ("failed", True)
    assert cancelled["message"] == "cancelled from the side panel"
    assert not (project / "deployments" / "tiny").exists() or not list((project / "deployments" / "tiny").glob("v*"))

    _, runs = await call(jp_fetch, "GET", "runs", "tiny")
    [run] = runs["runs"]
    assert (run["status"], run["reason"]) == ("FAILED", "cancelled from the side panel")
    assert run["params"]["scale"] == "3.0"

    code, again = await fetch_error(jp_fetch, "jupyter-deploy", "retrain", job["id"], method="DELETE")
    assert code == 409 and "nothing to cancel" in again["message"]


@pytest.mark.k8s
async def test_apply_is_the_cli_function_in_one_call_with_the_dropped_fields(
    jp_fetch, project, jp_serverapp, kubeconfig
):
    import yaml

    from jupyter_deploy.cluster import kube

    [app] = jp_serverapp.extension_manager.extension_apps["jupyter_deploy"]
    app.kubeconfig = str(kubeconfig)
    await call(jp_fetch, "POST", "export", body={"path": "doubler.ipynb"})
    await call(jp_fetch, "POST", "manifests", "doubler")
    path = project / "deploy/doubler/base/inferenceservice.yaml"
    document = yaml.safe_load(path.read_text())
    document["spec"]["predictor"]["minReplica"] = 2  # a typo: our validator and the cluster both know it
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        code, error = await fetch_error(jp_fetch, "jupyter-deploy", "apply", "doubler", method="POST", body="{}")
        assert (code, error["error"]) == (400, "ValidationError")
        assert "minReplica" in error["message"]

        _, applied = await call(jp_fetch, "POST", "apply", "doubler", body={"validate_first": False})
        result = applied["result"]
        assert [item["action"] for item in result["objects"]] == ["created"]
        assert result["dropped"] == ["InferenceService/doubler: spec.predictor.minReplica"]
    finally:
        kube.delete(project, "doubler", kubeconfig=kubeconfig)


@pytest.mark.parametrize(
    ("method", "parts", "body"),
    [
        ("POST", ("tag",), json.dumps({"path": "doubler.ipynb", "role": "predict"})),
        ("GET", ("parameters",), None),
        ("DELETE", ("retrain", "abc123"), None),
    ],
)
async def test_the_panel_routes_need_a_token(jp_fetch, project, method, parts, body):
    code, _ = await fetch_error(
        jp_fetch, "jupyter-deploy", *parts, method=method, body=body, headers={"Authorization": ""}
    )
    assert code == 403


async def test_tag_and_parameters_refuse_paths_outside_the_root(jp_fetch, project):
    body = json.dumps({"path": "../outside.ipynb", "role": "predict"})
    code, _ = await fetch_error(jp_fetch, "jupyter-deploy", "tag", method="POST", body=body)
    assert code == 403
    code, _ = await fetch_error(jp_fetch, "jupyter-deploy", "parameters", params={"path": "/etc/passwd"})
    assert code == 403
    code, error = await fetch_error(jp_fetch, "jupyter-deploy", "retrain", "abc123", method="DELETE")
    assert code == 404 and "abc123" in error["message"]
