"""The JSON fast path (v1, and plain v2) answers exactly as KServe's own routes would, request by request.

Both stacks are KServe's real REST app with the exported ``scale`` predictor registered in a real
``ModelServer``; they are driven in-process over ASGI (httpx's ASGITransport) so that one process can hold
both: our guard with the fast path in front, and our guard directly over KServe's FastAPI app. The loopback
tests in test_serve.py go through the fast path on a real server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.server

V1 = "/v1/models/scale:predict"
V2 = "/v2/models/scale/infer"


def v2(*inputs: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({"id": "r1", "inputs": list(inputs), **fields}).encode()


def tensor(data: Any, shape: Any = (1, 3), datatype: str = "FP32", **fields: Any) -> dict[str, Any]:
    return {"name": "x", "shape": list(shape), "datatype": datatype, "data": data, **fields}


REQUESTS = [
    # (id, path, body bytes, whether the fast path answers it itself)
    ("v1 rows", V1, b'{"instances": [[1, 2, 3], [0.5, 0, 10]]}', True),
    ("v1 inputs key", V1, b'{"inputs": [[1, 2, 3]]}', True),
    ("v1 wrong shape", V1, b'{"instances": [[1, 2]]}', True),
    ("v1 wrong dtype", V1, b'{"instances": [["a", "b", "c"]]}', True),
    ("v1 not a list", V1, b'{"instances": 3}', True),
    ("v1 no instances", V1, b'{"rows": [[1, 2, 3]]}', True),
    ("v1 predict raises", V1, b'{"instances": [[-1, 2, 3]]}', True),
    ("v1 unicode", V1, '{"instances": [["é", 1, 2]]}'.encode(), True),
    ("v1 malformed", V1, b'{"instances": [[1, 2', False),
    ("v1 a list body", V1, b"[[1, 2, 3]]", False),
    ("v1 structured cloudevent", V1, b'{"specversion": "1.0", "data": {"instances": [[1, 2, 3]]}}', False),
    ("v2 rows", V2, v2(tensor([1, 2, 3, 0.5, 0, 10], shape=(2, 3))), True),
    ("v2 nested data", V2, v2(tensor([[1, 2, 3]])), True),
    ("v2 FP64", V2, v2(tensor([1, 2, 3], datatype="FP64")), True),
    ("v2 INT32", V2, v2(tensor([1, 2, 3], datatype="INT32")), True),
    ("v2 BOOL", V2, v2(tensor([True, False, True], datatype="BOOL")), True),
    ("v2 INT64 in range", V2, v2(tensor([-(2**63), 0, 2**63 - 1], datatype="INT64")), True),
    ("v2 INT64 below range", V2, v2(tensor([-(2**63) - 1, 0, 1], datatype="INT64")), False),
    ("v2 nested INT32", V2, v2(tensor([[1, 2, 3]], datatype="INT32")), False),
    ("v2 data short", V2, v2(tensor([1, 2])), True),
    ("v2 data not numbers", V2, v2(tensor([1, 2, "x"])), True),
    ("v2 wrong shape", V2, v2(tensor([1, 2, 3, 4], shape=(1, 4))), True),
    ("v2 no inputs", V2, v2(), True),
    ("v2 two inputs", V2, v2(tensor([1, 2, 3]), {**tensor([1]), "name": "y", "shape": [1]}), True),
    ("v2 predict raises", V2, v2(tensor([-1, 2, 3])), True),
    ("v2 lower-case datatype", V2, v2(tensor([1, 2, 3], datatype="fp32")), False),
    ("v2 BYTES", V2, v2(tensor(["a", "b", "c"], datatype="BYTES")), False),
    ("v2 FP16", V2, v2(tensor([1, 2, 3], datatype="FP16")), False),
    ("v2 unknown datatype", V2, v2(tensor([1, 2, 3], datatype="XX")), False),
    ("v2 no datatype", V2, v2({"name": "x", "shape": [1, 3], "data": [1, 2, 3]}), False),
    ("v2 string shape", V2, v2(tensor([1, 2, 3], shape=("1", "3"))), False),
    ("v2 numeric id", V2, json.dumps({"id": 7, "inputs": [tensor([1, 2, 3])]}).encode(), False),
    ("v2 parameters", V2, v2(tensor([1, 2, 3]), parameters={"priority": 1}), False),
    ("v2 input parameters", V2, v2(tensor([1, 2, 3], parameters={"a": 1})), False),
    ("v2 requested outputs", V2, v2(tensor([1, 2, 3]), outputs=[{"name": "output-0"}]), False),
    ("v2 inputs not a list", V2, b'{"id": "r1", "inputs": {"name": "x"}}', False),
    ("v2 malformed", V2, b'{"inputs": [', False),
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

    from jupyter_deploy.runtime.fastpath import FastPredict
    from jupyter_deploy.runtime.http import GuardMiddleware
    from jupyter_deploy.runtime.server import guarded_rest_server
    from jupyter_deploy.versions.batchcheck import load_predictor_class
    from jupyter_deploy.versions.store import resolve

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


def post_to(app: Any, path: str, body: bytes) -> tuple[int, str, Any]:
    import httpx

    async def call() -> tuple[int, str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(path, content=body, headers={"content-type": "application/json"})
        return response.status_code, response.headers["content-type"], response.json()

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("path", "body", "answered"), [case[1:] for case in REQUESTS], ids=[case[0] for case in REQUESTS]
)
def test_fast_path_answers_as_kserve_does(stacks: dict[str, Any], path: str, body: bytes, answered: bool) -> None:
    stacks["behind"].seen.clear()
    fast, kserve = post_to(stacks["fast"], path, body), post_to(stacks["kserve"], path, body)
    assert fast == kserve
    assert stacks["behind"].seen == ([] if answered else [path])
    status, content_type, answer = fast
    assert content_type == "application/json"
    if status == 422:  # KServe's schema errors for a v2 body
        assert set(answer) == {"detail"}, answer
    elif status != 200:
        assert set(answer) == {"error"}, answer
    elif path == V1:
        assert set(answer) == {"predictions"}, answer
    else:
        assert answer["id"] == "r1" and answer["outputs"][0]["data"], answer


def test_v2_without_id_gets_a_fresh_one_on_both_paths(stacks: dict[str, Any]) -> None:
    body = json.dumps({"inputs": [tensor([1, 2, 3])]}).encode()
    (_, _, fast), (_, _, kserve) = post_to(stacks["fast"], V2, body), post_to(stacks["kserve"], V2, body)
    assert fast["id"] and kserve["id"] and fast["id"] != kserve["id"]
    assert {**fast, "id": None} == {**kserve, "id": None}


def test_latency_logging_takes_kserves_route(stacks: dict[str, Any]) -> None:
    """``--enable_latency_logging`` asks for KServe's per-request timing lines, which only its route writes."""
    model = stacks["fast"].app.model
    stacks["behind"].seen.clear()
    model.enable_latency_logging = True
    try:
        status, _, answer = post_to(stacks["fast"], V1, b'{"instances": [[1, 2, 3]]}')
    finally:
        model.enable_latency_logging = False
    assert (status, answer) == (200, {"predictions": [[3.0, 5.0, 7.0]]})
    assert stacks["behind"].seen == [V1]
