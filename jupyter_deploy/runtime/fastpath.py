"""The hot path for plain JSON predict requests, answered in front of FastAPI's routing stack.

KServe's REST app spends most of a small model's request time on its middleware, routing, dependency
resolution, pydantic models and response objects (measured: about four fifths of the server's time for a
32->64->64->4 MLP). For the served model, once it is ready, two requests are answered here:
- ``POST /v1/models/NAME:predict`` with a JSON object body;
- ``POST /v2/models/NAME/infer`` with a plain JSON body: ``id`` and ``inputs`` only, each input exactly
  ``name``, ``shape``, ``datatype`` (numeric, not FP16) and ``data``, turned into KServe's own
  ``InferRequest`` (so tensors are decoded by KServe's code) without the pydantic pass.
The answers are the ones KServe's own routes give, byte for byte in shape (``{"predictions": ...}``, the v2
response with its null fields, ``{"error": ...}`` with 400 for bad input and 500 for a failing predict), and
the predict is counted in KServe's own histogram. Anything else (CloudEvents, v2 parameters or requested
outputs, binary tensors, a body that is not JSON, or any request when KServe's latency logging is on) goes
to KServe's app unchanged, its body replayed.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from kserve.errors import InferenceError, InvalidInput
from kserve.logging import logger

from .http import replay

Scope = dict[str, Any]
JSON_HEADERS = [(b"content-type", b"application/json")]
V2_INPUT_KEYS = {"name", "shape", "datatype", "data"}
V2_JSON_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP32", "FP64"}


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def v1_request(payload: Any) -> Any:
    """The v1 payload itself, or None when KServe should decide (not an object, or a structured CloudEvent)."""
    if not isinstance(payload, dict) or "specversion" in payload:
        return None
    return payload


def v2_request(payload: Any, model_name: str) -> Any:
    """KServe's ``InferRequest`` for a plain v2 JSON body, or None when KServe's route should decide."""
    from kserve import InferInput, InferRequest

    if not isinstance(payload, dict) or not payload.keys() <= {"id", "inputs"}:
        return None
    request_id, inputs = payload.get("id"), payload.get("inputs")
    if not (request_id is None or isinstance(request_id, str)) or not isinstance(inputs, list):
        return None
    tensors = []
    for item in inputs:
        if not isinstance(item, dict) or item.keys() != V2_INPUT_KEYS:
            return None
        name, shape, datatype, data = item["name"], item["shape"], item["datatype"], item["data"]
        if not (
            isinstance(name, str)
            and isinstance(shape, list)
            and all(type(size) is int for size in shape)
            and datatype in V2_JSON_DATATYPES
            and isinstance(data, list)
        ):
            return None
        tensors.append(InferInput(name=name, shape=shape, datatype=datatype, data=data, parameters={}))
    return InferRequest(model_name=model_name, infer_inputs=tensors, request_id=request_id)


def v2_body(response: Any) -> dict[str, Any]:
    """The JSON KServe's v2 route writes for an ``InferResponse`` (its pydantic model, null fields included)."""
    rest, _ = response.to_rest()
    return {
        "model_name": rest["model_name"],
        "model_version": rest.get("model_version"),
        "id": rest["id"],
        "parameters": rest.get("parameters"),
        "outputs": [
            {
                "name": output["name"],
                "shape": output["shape"],
                "datatype": output["datatype"],
                "parameters": output.get("parameters"),
                "data": output["data"],
            }
            for output in rest["outputs"]
        ],
    }


class FastPredict:
    def __init__(self, app: Any, model: Any) -> None:
        self.app = app
        self.model = model
        self.routes = {f"/v1/models/{model.name}:predict": "v1", f"/v2/models/{model.name}/infer": "v2"}
        from kserve.metrics import PREDICT_HIST_TIME

        self.histogram = PREDICT_HIST_TIME.labels(model_name=model.name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        protocol = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if protocol is None or not self._plain(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None  # KServe's own message for it
        request = v1_request(payload) if protocol == "v1" else v2_request(payload, self.model.name)
        if request is None:
            await self.app(scope, replay(body, receive), send)
            return
        status, answer = await self._predict(request, protocol)
        headers = [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _predict(self, request: Any, protocol: str) -> tuple[int, bytes]:
        start = time.perf_counter()
        try:
            response = await self.model.predict(self.model.validate(request), None)
            return 200, _dumps(response if protocol == "v1" else v2_body(response))
        except InvalidInput as error:
            logger.warning("%s: bad request: %s", self.model.name, error)
            return 400, _dumps({"error": str(error)})
        except Exception as error:  # the messages of KServe's own inference_error and generic handlers
            logger.error("%s: predict failed", self.model.name, exc_info=error)
            message = str(error) if isinstance(error, InferenceError) else f"{type(error).__name__} : {error}"
            return 500, _dumps({"error": message})
        finally:
            self.histogram.observe(time.perf_counter() - start)

    def _plain(self, scope: Scope) -> bool:
        """Ready, a bare JSON content type (the guard strips parameters) and no binary CloudEvent headers.
        With ``--enable_latency_logging`` every request takes KServe's route, which writes those lines."""
        if not self.model.ready or self.model.enable_latency_logging:
            return False
        json_body = False
        for key, value in scope["headers"]:
            if key == b"content-type":
                json_body = value == b"application/json"
            elif key.startswith(b"ce-"):
                return False
        return json_body


async def _read_body(receive: Any) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)
