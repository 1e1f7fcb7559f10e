"""Calling the server extension's REST routes in the functional tests: a real Jupyter server (pytest-jupyter's
``jp_fetch``) with authentication required, and the notebooks a test's server root starts with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

DATA = Path(__file__).parent / "data"


def server_config(**apps: dict[str, Any]) -> dict[str, Any]:
    """``jp_server_config`` with the extension enabled and tokens required, plus other apps' settings."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_deploy": True}, "allow_unauthenticated_access": False},
        **apps,
    }


DOUBLER = {"doubler.ipynb": "panel_doubler.ipynb"}  # a deployment that exports without a kernel
TINY = {"tiny.ipynb": "retrain/tiny.ipynb"}  # a notebook that retrains in seconds


def with_notebooks(root: Path, notebooks: dict[str, str]) -> Path:
    """Copy test notebooks into the server root ``root``: {name there: path under tests/data/}."""
    for target, source in notebooks.items():
        shutil.copy(DATA / source, root / target)
    return root


async def fetch_error(jp_fetch, *parts: str, **kwargs) -> tuple[int, dict]:
    """The status and JSON body of a request that must fail."""
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*parts, **kwargs)
    response = caught.value.response
    assert response is not None
    return caught.value.code, json.loads(response.body)


async def call(jp_fetch, method: str, *parts: str, body: object = None) -> tuple[int, dict]:
    """``METHOD /jupyter-deploy/PARTS`` with a JSON body; the status and the JSON answer."""
    payload = None if body is None and method in ("GET", "DELETE") else json.dumps(body or {})
    response = await jp_fetch("jupyter-deploy", *parts, method=method, body=payload, request_timeout=180)
    return response.code, json.loads(response.body)
