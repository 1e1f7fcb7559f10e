"""The REST endpoints, through a real Jupyter server with authentication required (pytest-jupyter)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rest_client import DATA, DOUBLER, fetch_error, server_config, with_notebooks


@pytest.fixture
def jp_server_config():
    return server_config()


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    """The server root holds the notebooks (one in a sub-folder) and, next to it, a file outside the root."""
    with_notebooks(jp_root_dir, DOUBLER)
    (jp_root_dir / "work").mkdir()
    shutil.copy(DATA / "panel_bad_tag.ipynb", jp_root_dir / "work" / "bad.ipynb")
    shutil.copy(DATA / "panel_doubler.ipynb", jp_root_dir.parent / "outside.ipynb")
    return jp_root_dir


async def export(jp_fetch, path: str = "doubler.ipynb", name: str | None = "doubler"):
    body = json.dumps({"path": path, "name": name})
    return await jp_fetch("jupyter-deploy", "export", method="POST", body=body, request_timeout=120)


async def test_info_lists_roles_and_available_actions(jp_fetch):
    response = await jp_fetch("jupyter-deploy", "info")
    info = json.loads(response.body)
    assert info["roles"] == ["predict", "load", "preprocess", "postprocess", "example", "reference"]
    assert "export" in info["actions"]
    assert {"manifests", "serve", "retrain", "apply"} <= set(info["actions"])


async def test_deployments_lists_annotated_cells_grouped_by_deployment(jp_fetch, project):
    response = await jp_fetch("jupyter-deploy", "deployments", params={"path": "doubler.ipynb"})
    data = json.loads(response.body)
    assert data["path"] == "doubler.ipynb"
    assert data["default_name"] == "doubler"
    [deployment] = data["deployments"]
    assert deployment["name"] == "doubler"
    assert [(cell["role"], cell["cell_id"], cell["via"]) for cell in deployment["cells"]] == [
        ("predict", "predict", "tag"),
        ("example", "example", "tag"),
    ]
    assert deployment["versions"] == []
    assert deployment["current"] is None


async def test_bad_tag_is_a_400_that_names_the_role_and_the_cell(jp_fetch, project):
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "deployments", params={"path": "work/bad.ipynb"})
    assert status == 400
    assert "unknown role 'predcit'" in body["message"]
    assert "typo" in body["message"]
    assert body["error"] == "AnnotationError"


async def test_missing_notebook_is_404_and_missing_path_is_400(jp_fetch, project):
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "deployments", params={"path": "nope.ipynb"})
    assert (status, body["message"]) == (404, "nope.ipynb: no such notebook")
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "deployments")
    assert status == 400
    assert "path" in body["message"]


@pytest.mark.parametrize("path", ["../outside.ipynb", "work/../../outside.ipynb"])
async def test_paths_outside_the_server_root_are_refused(jp_fetch, project, path):
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "deployments", params={"path": path})
    assert status == 403
    assert "outside the server root" in body["message"]


async def test_absolute_paths_are_refused_even_inside_the_root(jp_fetch, project):
    absolute = str(project / "doubler.ipynb")
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "deployments", params={"path": absolute})
    assert status == 403
    assert "absolute paths are refused" in body["message"]
    status, _ = await fetch_error(
        jp_fetch, "jupyter-deploy", "export", method="POST", body=json.dumps({"path": absolute})
    )
    assert status == 403


@pytest.mark.parametrize(
    ("method", "parts", "body"),
    [
        ("GET", ("jupyter-deploy", "info"), None),
        ("GET", ("jupyter-deploy", "deployments"), None),
        ("GET", ("jupyter-deploy", "versions", "doubler"), None),
        ("GET", ("jupyter-deploy", "diff", "doubler"), None),
        ("POST", ("jupyter-deploy", "export"), json.dumps({"path": "doubler.ipynb"})),
    ],
)
async def test_every_endpoint_needs_a_token(jp_fetch, project, method, parts, body):
    status, _ = await fetch_error(jp_fetch, *parts, method=method, body=body, headers={"Authorization": ""})
    assert status == 403
    assert not (project / "deployments").exists()


async def test_export_creates_a_version_then_finds_it_unchanged(jp_fetch, project):
    response = await export(jp_fetch)
    assert response.code == 201
    result = json.loads(response.body)
    assert result["created"] is True
    assert result["path"] == "deployments/doubler/v1"
    assert result["info"]["version"] == "v1"
    # no kernel: the module was run and checked, but only a live export has an independent reference
    assert result["info"]["parity"]["status"] == "skipped"
    assert "--execute" in result["info"]["parity"]["detail"]
    assert (project / "deployments" / "doubler" / "v1" / "predictor.py").is_file()

    again = await export(jp_fetch)
    assert again.code == 200
    assert json.loads(again.body)["created"] is False

    listed = json.loads((await jp_fetch("jupyter-deploy", "deployments", params={"path": "doubler.ipynb"})).body)
    [deployment] = listed["deployments"]
    assert [version["version"] for version in deployment["versions"]] == ["v1"]
    assert deployment["current"] == "v1"


async def test_versions_and_diff_between_two_exports(jp_fetch, project):
    await export(jp_fetch)
    notebook = json.loads((project / "doubler.ipynb").read_text())
    helpers = next(cell for cell in notebook["cells"] if cell["id"] == "helpers")
    helpers["source"] = "SCALE = 3.0\n\n\ndef double(values):\n    return [value * SCALE for value in values]"
    (project / "doubler.ipynb").write_text(json.dumps(notebook))
    second = json.loads((await export(jp_fetch)).body)
    assert second["info"]["version"] == "v2"
    assert second["info"]["parent"] == "v1"
    assert second["changed_files"] == [
        "artifacts/example_output.json",
        "artifacts/reference_profile.json",  # the example output's profile
        "predictor.py",
    ]

    versions = json.loads((await jp_fetch("jupyter-deploy", "versions", "doubler")).body)
    assert versions["current"] == "v2"
    assert [version["version"] for version in versions["versions"]] == ["v1", "v2"]

    diff = json.loads((await jp_fetch("jupyter-deploy", "diff", "doubler", params={"a": "v1", "b": "v2"})).body)
    assert "-SCALE = 2.0" in diff["diff"]
    assert "+SCALE = 3.0" in diff["diff"]


async def test_versions_and_diff_errors(jp_fetch, project):
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "versions", "doubler")
    assert status == 404
    assert "export it first" in body["message"]
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "versions", "Not_A_Name")
    assert status == 400
    assert "not a valid deployment name" in body["message"]

    await export(jp_fetch)
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "diff", "doubler", params={"a": "v1", "b": "v7"})
    assert (status, body["error"]) == (404, "NotFoundError")
    assert "has no version v7" in body["message"]
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "diff", "doubler", params={"a": "v1"})
    assert status == 400
    assert "b" in body["message"]


async def test_export_errors_are_json_with_the_right_status(jp_fetch, project):
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "export", method="POST", body="{}")
    assert status == 400
    assert "path: Field required" in body["message"]

    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "export", method="POST", body="not json")
    assert status == 400
    assert body["message"].startswith("invalid request body")

    churn = json.dumps({"path": "doubler.ipynb", "name": "churn"})
    status, body = await fetch_error(jp_fetch, "jupyter-deploy", "export", method="POST", body=churn)
    assert status == 400
    assert "no deployment named 'churn'" in body["message"]

    status, body = await fetch_error(
        jp_fetch, "jupyter-deploy", "export", method="POST", body=json.dumps({"path": "work/bad.ipynb"})
    )
    assert (status, body["error"]) == (400, "AnnotationError")
    assert not (project / "deployments").exists()
