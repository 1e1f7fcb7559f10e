"""Bad input to the REST endpoints: each a 4xx JSON error with one message, never a 500, never the server's
absolute paths, never a file outside the project (a real Jupyter server through pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_client import DOUBLER, fetch_error, server_config, with_notebooks


@pytest.fixture
def jp_server_config():
    return server_config()


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    return with_notebooks(jp_root_dir, DOUBLER)


async def export(jp_fetch) -> dict:
    body = json.dumps({"path": "doubler.ipynb", "name": "doubler"})
    response = await jp_fetch("jupyter-deploy", "export", method="POST", body=body, request_timeout=120)
    return json.loads(response.body)


def outside_version(project: Path) -> Path:
    """A directory outside the server root that looks like a version (it holds a version.json)."""
    outside = project.parent / "outside"
    outside.mkdir(exist_ok=True)
    v1 = project / "deployments" / "doubler" / "v1"
    (outside / "version.json").write_text((v1 / "version.json").read_text())
    (outside / "secret.txt").write_text("the secret\n")
    return outside


@pytest.mark.parametrize("b", ["../../../outside", "..%2F..%2F..%2Foutside", "ABSOLUTE", "v1/../v1", "v01x"])
async def test_diff_reads_only_versions(jp_fetch, project, b):
    await export(jp_fetch)
    outside = outside_version(project)
    b = str(outside) if b == "ABSOLUTE" else b.replace("%2F", "/")
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "diff", "doubler", params={"a": "v1", "b": b})
    assert status == 404, body
    assert "is not a version" in body["message"]
    assert "secret" not in json.dumps(body)


def assert_clean(status: int, body: dict, root: Path) -> None:
    assert 400 <= status < 500, body
    assert body["message"]
    assert str(root) not in json.dumps(body)
    assert str(root.parent) not in json.dumps(body)


async def test_nul_byte_in_a_notebook_path_is_a_400(jp_fetch, project):
    body = json.dumps({"path": "doubler\u0000.ipynb", "name": "doubler"})
    status, error = await fetch_error(jp_fetch, "jupyter-deploy", "export", method="POST", body=body)
    assert_clean(status, error, project)
    assert "NUL" in error["message"]
    status, error = await fetch_error(jp_fetch, "jupyter-deploy", "deployments", params={"path": "doubler\u0000.ipynb"})
    assert status in (400, 404)
    assert_clean(status, error, project)


async def test_an_overlong_path_segment_is_a_400_without_the_server_root(jp_fetch, project):
    long_path = "a" * 300 + ".ipynb"
    status, error = await fetch_error(jp_fetch, "jupyter-deploy", "deployments", params={"path": long_path})
    assert_clean(status, error, project)
    assert "255" in error["message"]
    body = json.dumps({"path": f"work/{long_path}"})
    status, error = await fetch_error(jp_fetch, "jupyter-deploy", "export", method="POST", body=body)
    assert_clean(status, error, project)


@pytest.mark.parametrize("limit", ["abc", "-1", "0", "1.5"])
async def test_runs_limit_must_be_a_positive_integer(jp_fetch, project, limit):
    status, error = await fetch_error(jp_fetch, "jupyter-deploy", "runs", "doubler", params={"limit": limit})
    assert_clean(status, error, project)
    assert "limit" in error["message"]
    assert not (project / "mlflow.db").exists()
