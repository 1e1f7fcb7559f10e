"""``POST /jupyter-deploy/outcome``: the server, not the browser, says what an action's answer means.

Export, manifests and the local server's answers come from the real routes; apply and status answers are
written here in ``kube.apply`` / ``kube.status``'s shape (the cluster run is tests/ui's k8s test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_client import DOUBLER, call, fetch_error, server_config, with_notebooks


@pytest.fixture
def jp_server_config():
    return server_config()


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    return with_notebooks(jp_root_dir, DOUBLER)


async def outcome(jp_fetch, action: str, result: object) -> dict:
    _, said = await call(jp_fetch, "POST", "outcome", body={"action": action, "result": result})
    return said


async def test_export_and_manifests_answers_are_worded_by_the_server(jp_fetch, project):
    _, exported = await call(jp_fetch, "POST", "export", body={"path": "doubler.ipynb"})
    said = await outcome(jp_fetch, "export", exported)
    assert said == {"state": "ok", "text": "Created doubler v1 in deployments/doubler/v1.", "detail": None}
    _, again = await call(jp_fetch, "POST", "export", body={"path": "doubler.ipynb"})
    said = await outcome(jp_fetch, "export-execute", again)
    assert said["text"] == "Unchanged: doubler v1 already holds this code (deployments/doubler/v1)."

    _, written = await call(jp_fetch, "POST", "manifests", "doubler")
    said = await outcome(jp_fetch, "manifests", written)
    assert said["text"] == "Wrote the manifests of doubler v1."
    assert "deploy/doubler/base/inferenceservice.yaml" in said["detail"].splitlines()


async def test_apply_with_dropped_fields_is_a_failure_as_in_the_cli(jp_fetch, project):
    applied = {
        "name": "doubler",
        "namespace": "default",
        "dry_run": False,
        "objects": [{"kind": "InferenceService", "name": "doubler", "namespace": "default", "action": "created"}],
        "dropped": [],
    }
    said = await outcome(jp_fetch, "apply", {"name": "doubler", "result": applied})
    assert said == {
        "state": "ok",
        "text": "Applied doubler to namespace default.",
        "detail": "InferenceService/doubler in default: created",
    }
    dropped = {**applied, "dropped": ["InferenceService/doubler: spec.predictor.minReplica"]}
    said = await outcome(jp_fetch, "apply", {"name": "doubler", "result": dropped})
    assert said["state"] == "error"
    assert "dropped 1 field(s)" in said["text"] and "spec.predictor.minReplica" in said["text"]
    assert said["detail"].splitlines()[-1] == (
        "the server dropped InferenceService/doubler: spec.predictor.minReplica (unknown field?)"
    )


async def test_status_and_a_running_or_failed_retrain(jp_fetch, project):
    status = {"name": "doubler", "namespace": "team", "ready": False, "url": None, "conditions": []}
    said = await outcome(jp_fetch, "status", {"name": "doubler", "result": status})
    assert said["text"] == "doubler in team: not ready"
    assert "no conditions yet" in said["detail"]

    job = {"id": "ab12", "name": "doubler", "notebook": "doubler.ipynb", "status": "running", "cell": "cell 3: x = 1"}
    said = await outcome(jp_fetch, "retrain", job)
    assert (said["state"], said["text"]) == ("busy", "Retraining: running cell 3: x = 1")
    failed = {**job, "status": "failed", "message": "cancelled from the side panel"}
    said = await outcome(jp_fetch, "retrain", failed)
    assert (said["state"], said["text"]) == ("error", "Retraining failed: cancelled from the side panel")


async def test_an_unknown_action_or_a_malformed_answer_is_a_400_and_a_token_is_needed(jp_fetch, project):
    for body in ({"action": "deploy", "result": {}}, {"action": "apply", "result": {"name": "doubler"}}):
        code, error = await fetch_error(jp_fetch, "jupyter-deploy", "outcome", method="POST", body=json.dumps(body))
        assert code == 400 and error["message"].startswith("invalid request body"), error
    code, _ = await fetch_error(
        jp_fetch, "jupyter-deploy", "outcome", method="POST", body="{}", headers={"Authorization": ""}
    )
    assert code == 403
