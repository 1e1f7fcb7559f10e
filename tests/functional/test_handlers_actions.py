"""The action endpoints (manifests, serve, retrain, runs, apply, status) through a real Jupyter server."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from rest_client import DOUBLER, TINY, call, fetch_error, server_config, with_notebooks


@pytest.fixture
def jp_server_config(tmp_path: Path):
    # no cluster: apply and status must say so
    return server_config(JupyterDeployApp={"kubeconfig": str(tmp_path / "no-such-kubeconfig")})


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    return with_notebooks(jp_root_dir, DOUBLER)


async def export(jp_fetch) -> None:
    await call(jp_fetch, "POST", "export", body={"path": "doubler.ipynb", "name": "doubler"})


def extension(jp_serverapp):
    [app] = jp_serverapp.extension_manager.extension_apps["jupyter_deploy"]
    return app


@pytest.mark.parametrize(
    ("method", "parts"),
    [
        ("GET", ("manifests", "doubler")),
        ("POST", ("manifests", "doubler")),
        ("GET", ("serve", "doubler")),
        ("POST", ("serve", "doubler")),
        ("DELETE", ("serve", "doubler")),
        ("POST", ("retrain",)),
        ("GET", ("retrain", "abc123")),
        ("GET", ("runs", "doubler")),
        ("POST", ("apply", "doubler")),
        ("GET", ("status", "doubler")),
    ],
)
async def test_every_action_needs_a_token(jp_fetch, project, method, parts):
    body = None if method in ("GET", "DELETE") else json.dumps({"path": "doubler.ipynb"})
    status, _ = await fetch_error(
        jp_fetch, "jupyter-deploy", *parts, method=method, body=body, headers={"Authorization": ""}
    )
    assert status == 403


@pytest.mark.parametrize(
    ("method", "parts"),
    [
        ("GET", ("manifests", "nope")),
        ("POST", ("manifests", "nope")),
        ("GET", ("serve", "nope")),
        ("POST", ("serve", "nope")),
        ("DELETE", ("serve", "nope")),
        ("GET", ("runs", "nope")),
        ("POST", ("apply", "nope")),
        ("GET", ("status", "nope")),
        ("GET", ("retrain", "abc123")),
    ],
)
async def test_unknown_deployment_or_job_is_404(jp_fetch, project, method, parts):
    body = None if method in ("GET", "DELETE") else "{}"
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", *parts, method=method, body=body)
    assert status == 404
    assert "nope" in body["message"] or "abc123" in body["message"]


async def test_manifest_preview_writes_nothing_then_post_writes_the_same_files(jp_fetch, project):
    await export(jp_fetch)
    _, preview = await call(jp_fetch, "GET", "manifests", "doubler")
    assert preview["version"] == "v1"
    files = {item["path"]: item["text"] for item in preview["files"]}
    isvc = files["deploy/doubler/base/inferenceservice.yaml"]
    assert "kind: InferenceService" in isvc
    assert "Dockerfile" in " ".join(files)
    assert not (project / "deploy").exists()

    code, written = await call(jp_fetch, "POST", "manifests", "doubler")
    assert (code, written["changed"], written["version"]) == (200, True, "v1")
    assert "deploy/doubler/base/inferenceservice.yaml" in written["files"]
    for path, text in files.items():
        assert (project / path).read_text() == text
    _, again = await call(jp_fetch, "POST", "manifests", "doubler")
    assert again["changed"] is False


async def test_serve_start_answer_status_stop(jp_fetch, project, jp_serverapp):
    await export(jp_fetch)
    _, idle = await call(jp_fetch, "GET", "serve", "doubler")
    assert idle == {**idle, "running": False, "url": None}

    code, started = await call(jp_fetch, "POST", "serve", "doubler")
    assert (code, started["running"], started["version"]) == (201, True, "v1")
    assert started["url"].startswith("http://127.0.0.1:")
    assert started["v1"] in started["curl"]
    request = urllib.request.Request(
        started["v1"], data=started["example"].encode(), headers={"Content-Type": "application/json"}
    )
    answer = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(request, timeout=10).read()))
    assert answer["predictions"] == [2.0, 5.0]

    _, status = await call(jp_fetch, "GET", "serve", "doubler")
    assert status["running"] is True
    server = extension(jp_serverapp).servers["doubler"]
    _, stopped = await call(jp_fetch, "DELETE", "serve", "doubler")
    assert stopped["running"] is False
    assert server.process.poll() is not None
    code, body = await fetch_error(jp_fetch, "jupyter-deploy", "serve", "doubler", method="DELETE")
    assert code == 404
    assert "no server for 'doubler'" in body["message"]


async def test_servers_stop_with_the_jupyter_server(jp_fetch, project, jp_serverapp):
    await export(jp_fetch)
    await call(jp_fetch, "POST", "serve", "doubler")
    app = extension(jp_serverapp)
    server = app.servers["doubler"]
    await app.stop_extension()
    assert server.process.poll() is not None
    assert app.servers == {}


async def test_apply_and_status_without_a_cluster_are_503_with_the_reason(jp_fetch, project):
    await export(jp_fetch)
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "apply", "doubler", method="POST", body="{}")
    assert status == 404
    assert "generate them first" in body["message"]

    await call(jp_fetch, "POST", "manifests", "doubler")
    for method, parts, payload in (("POST", "apply", '{"dry_run": true}'), ("GET", "status", None)):
        status, body = await fetch_error(jp_fetch, "jupyter-deploy", parts, "doubler", method=method, body=payload)
        assert (status, body["error"]) == (503, "ClusterError")
        assert "no-such-kubeconfig does not exist" in body["message"]
        assert "\n" not in body["message"]


async def test_retrain_request_errors(jp_fetch, project):
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "retrain", method="POST", body="{}")
    assert status == 400
    assert "path: Field required" in body["message"]
    status, body = await fetch_error(
        jp_fetch, "jupyter-deploy", "retrain", method="POST", body=json.dumps({"path": "../outside.ipynb"})
    )
    assert status == 403


@pytest.mark.kernel
async def test_retrain_job_reports_progress_then_the_outcome_and_lists_its_run(jp_fetch, project):
    with_notebooks(project, TINY)
    body = {"path": "tiny.ipynb", "parameters": {"scale": 2}, "promote_if": "score >= 0.5"}
    code, job = await call(jp_fetch, "POST", "retrain", body=body)
    assert (code, job["status"]) == (202, "running")
    code, body = await fetch_error(
        jp_fetch, "jupyter-deploy", "retrain", method="POST", body=json.dumps({"path": "tiny.ipynb"})
    )
    assert code == 409
    assert job["id"] in body["message"]

    cells = set()
    for _ in range(600):
        _, job = await call(jp_fetch, "GET", "retrain", job["id"])
        cells.add(job["cell"])
        if job["status"] != "running":
            break
        await asyncio.sleep(0.2)
    assert job["status"] == "succeeded", job["message"]
    assert job["result"]["outcome"] == "promoted"
    assert job["result"]["version"] == "v1"
    assert job["result"]["parameters"]["scale"] == 2
    assert any(cell and cell.startswith("cell ") for cell in cells)

    _, runs = await call(jp_fetch, "GET", "runs", "tiny")
    [run] = runs["runs"]
    assert run["run_id"] == job["result"]["run_id"]


async def test_two_simultaneous_starts_leave_no_server_behind(jp_fetch, project, jp_serverapp):
    """Two POSTs at once: one start after the other (the later replaces the earlier), and DELETE stops all."""
    await export(jp_fetch)
    (code_a, first), (code_b, second) = await asyncio.gather(
        call(jp_fetch, "POST", "serve", "doubler"), call(jp_fetch, "POST", "serve", "doubler")
    )
    assert (code_a, code_b) == (201, 201)
    servers = extension(jp_serverapp).servers
    assert servers["doubler"].base_url in (first["url"], second["url"])
    _, stopped = await call(jp_fetch, "DELETE", "serve", "doubler")
    assert stopped["running"] is False and "doubler" not in servers
    for started in (first, second):
        with pytest.raises(OSError):
            await asyncio.to_thread(urllib.request.urlopen, started["url"] + "/v2/health/live", timeout=5)
