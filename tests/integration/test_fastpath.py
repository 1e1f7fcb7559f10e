"""The v1 JSON fast path answers exactly as KServe's own route would, request by request.

Both stacks are KServe's real REST app with the exported ``scale`` predictor registered in a real
``ModelServer``; they are driven in-process over ASGI (httpx's ASGITransport) so that one process can hold
both: our guard with the fast path in front, and our guard directly over KServe's FastAPI app. The loopback
tests in test_serve.py go through the fast path on a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.server

REQUESTS = [
    # (id, body bytes, whether the fast path answers it itself)
    ("rows", b'{"instances": [[1, 2, 3], [0.5, 0, 10]]}', True),
    ("inputs key", b'{"inputs": [[1, 2, 3]]}', True),
    ("wrong shape", b'{"instances": [[1, 2]]}', True),
    ("wrong dtype", b'{"instances": [["a", "b", "c"]]}', True),
    ("not a list", b'{"instances": 3}', True),
    ("no instances", b'{"rows": [[1, 2, 3]]}', True),
    ("predict raises", b'{"instances": [[-1, 2, 3]]}', True),
    ("unicode", '{"instances": [["é", 1, 2]]}'.encode(), True),
    ("malformed", b'{"instances": [[1, 2', False),
    ("a list body", b"[[1, 2, 3]]", False),
    ("structured cloudevent", b'{"specversion": "1.0", "data": {"instances": [[1, 2, 3]]}}', False),
]


class Recorder:
    """An ASGI wrapper that remembers the paths it was called for."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(scope.get("path"))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def stacks(serve_root: Path) -> Iterator[dict[str, Any]]:
    """{"fast": guard + fast path + KServe's app, "kserve": guard + KServe's app, "behind": what reached KServe's
    app through the fast path}, sharing one loaded model."""
    from kserve import ModelServer
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING
    from uvicorn.importer import import_from_string

    from jupyter_deploy.batchcheck import load_predictor_class
    from jupyter_deploy.runtime.fastpath import FastPredict
    from jupyter_deploy.runtime.http import GuardMiddleware
    from jupyter_deploy.runtime.server import guarded_rest_server
    from jupyter_deploy.versions import resolve

    _, version_dir = resolve(serve_root, "scale")
    model = load_predictor_class(version_dir)()
    model.load()
    server = ModelServer(http_port=0, enable_grpc=False, workers=1)
    server.register_model(model)
    rest = guarded_rest_server(FASTAPI_APP_IMPORT_STRING, server, model, 0, None, "asyncio")
    rest.create_application()  # KServe's routes and our error handler on KServe's app
    assert isinstance(rest.config.app, GuardMiddleware) and isinstance(rest.config.app.app, FastPredict)
    application = import_from_string(FASTAPI_APP_IMPORT_STRING)
    behind = Recorder(application)
    yield {
        "fast": GuardMiddleware(FastPredict(behind, model)),
        "kserve": GuardMiddleware(application),
        "behind": behind,
    }


def post_to(app: Any, body: bytes) -> tuple[int, str, Any]:
    import httpx

    async def call() -> tuple[int, str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/v1/models/scale:predict", content=body, headers={"content-type": "application/json"}
            )
        return response.status_code, response.headers["content-type"], response.json()

    return asyncio.run(call())


@pytest.mark.parametrize(("body", "answered"), [case[1:] for case in REQUESTS], ids=[case[0] for case in REQUESTS])
def test_fast_path_answers_as_kserve_does(stacks: dict[str, Any], body: bytes, answered: bool) -> None:
    stacks["behind"].seen.clear()
    fast, kserve = post_to(stacks["fast"], body), post_to(stacks["kserve"], body)
    assert fast == kserve
    assert stacks["behind"].seen == ([] if answered else ["/v1/models/scale:predict"])
    status, content_type, answer = fast
    assert content_type == "application/json"
    assert ("predictions" in answer) if status == 200 else ("error" in answer), answer
