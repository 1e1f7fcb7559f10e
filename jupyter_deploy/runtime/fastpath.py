"""The hot path for JSON predict requests, answered in front of FastAPI's routing stack.

KServe's REST app spends most of a small model's request time on its middleware, routing, dependency
resolution, pydantic models and response objects (measured: about four fifths of the server's time for a
32->64->64->4 MLP). For the served model, once it is ready, these are answered here:
- ``POST /v1/models/NAME:predict`` with a JSON object body (``application/json`` or no Content-Type, both of
  which KServe reads as JSON);
- ``POST /v2/models/NAME/infer`` with a plain JSON body: ``id`` and ``inputs`` only, each input exactly
  ``name``, ``shape``, ``datatype`` (numeric, not FP16) and ``data``, turned into KServe's own
  ``InferRequest`` (so tensors are decoded by KServe's code) without the pydantic pass;
- ``GET /v2/models/NAME``: the model's metadata without KServe's ``"versions": null``, which the v2 protocol
  does not allow (the field is optional: it is left out).
The answers are the ones KServe's own routes give (``{"predictions": ...}``, the v2 response with its null
fields, ``{"error": ...}`` with 400 for bad input, 501 for NotImplementedError, 500 for a failing predict, a
stream for a predict that returns an async iterator), timed in KServe's three histograms (preprocess:
validation; predict; postprocess: encoding the answer). Large answers are encoded off the event loop
(``bodies``). Binary v2 requests (``inference-header-content-length``) are checked here, because KServe
answers a header that does not match its tensor bytes with a 500, then go to KServe's app. Anything else
(CloudEvents, v2 parameters or requested outputs, a body that is not JSON, integers beyond what orjson reads
exactly, or any request when KServe's latency logging is on) goes to KServe's app unchanged, its body replayed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from kserve.errors import InferenceError, InvalidInput
from kserve.logging import logger

from .bodies import LARGE, dumps, elements, v1_body, v2_body
from .http import replay

Scope = dict[str, Any]
JSON_HEADERS = [(b"content-type", b"application/json")]
BINARY_HEADER = b"inference-header-content-length"
V2_INPUT_KEYS = {"name", "shape", "datatype", "data"}
ITEM_BYTES = {
    "BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "FP16": 2,
    "UINT32": 4, "INT32": 4, "FP32": 4, "UINT64": 8, "INT64": 8, "FP64": 8,
}  # fmt: skip
V2_JSON_DATATYPES = set(ITEM_BYTES) - {"FP16"}
INTEGER_DATATYPES = {name for name in V2_JSON_DATATYPES if "INT" in name}


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
        if datatype in INTEGER_DATATYPES and not all(type(value) is int for value in data):
            # orjson reads an integer beyond 64 bits as a float, which numpy would round into range: KServe's
            # route reads it exactly and refuses it (nested data and non-integers take that route as well)
            return None
        tensors.append(InferInput(name=name, shape=shape, datatype=datatype, data=data, parameters={}))
    return InferRequest(model_name=model_name, infer_inputs=tensors, request_id=request_id)


def binary_problem(body: bytes, announced: bytes) -> str | None:
    """What is wrong with a binary v2 request, for the checks KServe's own decoding would answer with a 500."""
    try:
        length = int(announced)
    except ValueError:
        return f"the inference-header-content-length header must be a number of bytes, got {announced[:40]!r}"
    if not 0 <= length <= len(body):
        return f"inference-header-content-length is {length}, but the body has {len(body)} bytes"
    try:
        header = orjson.loads(body[:length])
    except orjson.JSONDecodeError:
        return None  # KServe's own 400 names the JSON error
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        return "the JSON header of a binary v2 request must be an object with an 'inputs' list"
    available = len(body) - length
    for item in header["inputs"]:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("datatype"), str)
            and isinstance(item.get("shape"), list)
            and all(type(size) is int and size >= 0 for size in item["shape"])
        ):
            return "each input of a binary v2 request needs a 'name', a 'shape' (sizes) and a 'datatype'"
        parameters = item.get("parameters") or {}
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if "data" in item or size is None:
            continue  # JSON data, or KServe's own 400 for the missing data
        name = item["name"]
        if type(size) is not int or size < 0:
            return f"'binary_data_size' of input {name!r} must be a number of bytes, got {size!r}"
        if size > available:
            return f"input {name!r} announces {size} bytes of binary data, but only {available} follow the JSON header"
        item_bytes = ITEM_BYTES.get(item["datatype"])
        if item_bytes is not None and size != math.prod(item["shape"]) * item_bytes:
            expected = math.prod(item["shape"]) * item_bytes
            return (
                f"input {name!r} is {item['datatype']} of shape {item['shape']}: {expected} bytes, "
                f"but 'binary_data_size' is {size}"
            )
        available -= size
    return None


class FastPredict:
    def __init__(self, app: Any, model: Any) -> None:
        self.app = app
        self.model = model
        self.routes = {f"/v1/models/{model.name}:predict": "v1", f"/v2/models/{model.name}/infer": "v2"}
        self.metadata_path = f"/v2/models/{model.name}"
        from kserve.metrics import POST_HIST_TIME, PRE_HIST_TIME, PREDICT_HIST_TIME

        self.preprocess_seconds = PRE_HIST_TIME.labels(model_name=model.name)
        self.predict_seconds = PREDICT_HIST_TIME.labels(model_name=model.name)
        self.postprocess_seconds = POST_HIST_TIME.labels(model_name=model.name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        protocol = self.routes.get(scope["path"]) if scope["method"] == "POST" else None
        if protocol is None:
            if scope["method"] == "GET" and scope["path"] == self.metadata_path:
                await _respond(send, 200, dumps(await self._metadata()))
                return
            await self.app(scope, receive, send)
            return
        kind = self._kind(scope, protocol)
        if kind is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if kind != "json":
            problem = binary_problem(body, kind)
            if problem is None:
                await self.app(scope, replay(body, receive), send)
            else:
                logger.warning("%s: bad binary request: %s", self.model.name, problem)
                await _respond(send, 400, dumps({"error": problem}))
            return
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None  # KServe's own message for it
        request = v1_request(payload) if protocol == "v1" else v2_request(payload, self.model.name)
        if request is None:
            await self.app(scope, replay(body, receive), send)
            return
        status, answer = await self._predict(request, protocol)
        if isinstance(answer, bytes):
            await _respond(send, status, answer)
            return
        from starlette.responses import StreamingResponse  # what KServe's v1 route answers a stream with

        await StreamingResponse(content=answer)(scope, receive, send)

    async def _predict(self, request: Any, protocol: str) -> tuple[int, Any]:
        start = time.perf_counter()
        predicting = None
        try:
            payload = self.model.validate(request)
            predicting = time.perf_counter()
            self.preprocess_seconds.observe(predicting - start)
            response = await self.model.predict(payload, None)
            encoding = time.perf_counter()
            self.predict_seconds.observe(encoding - predicting)
            predicting = None
            if isinstance(response, AsyncIterator):
                return 200, response
            answer = await self._encode(response, protocol)
            self.postprocess_seconds.observe(time.perf_counter() - encoding)
            return 200, answer
        except InvalidInput as error:
            logger.warning("%s: bad request: %s", self.model.name, error)
            return 400, dumps({"error": str(error)})
        except NotImplementedError as error:  # KServe's not_implemented_error_handler
            return 501, dumps({"error": str(error)})
        except Exception as error:  # the messages of KServe's own inference_error and generic handlers
            logger.error("%s: predict failed", self.model.name, exc_info=error)
            message = str(error) if isinstance(error, InferenceError) else f"{type(error).__name__} : {error}"
            return 500, dumps({"error": message})
        finally:
            if predicting is not None:  # a failed predict is timed, as KServe's context manager does
                self.predict_seconds.observe(time.perf_counter() - predicting)

    async def _encode(self, response: Any, protocol: str) -> bytes:
        encode = v1_body if protocol == "v1" else v2_body
        if elements(response) < LARGE:
            return encode(response)
        return await asyncio.get_running_loop().run_in_executor(None, encode, response)

    async def _metadata(self) -> dict[str, Any]:
        """KServe's model metadata, less ``versions`` (null there: the protocol wants a list or nothing)."""
        inputs, outputs = self.model.get_input_types(), self.model.get_output_types()
        if asyncio.iscoroutine(inputs):
            inputs = await inputs
        if asyncio.iscoroutine(outputs):
            outputs = await outputs
        return {"name": self.model.name, "platform": "", "inputs": inputs, "outputs": outputs}

    def _kind(self, scope: Scope, protocol: str) -> Any:
        """ "json" for a JSON body this path answers, the header's value for a binary v2 request (checked here,
        then answered by KServe), None for KServe. With ``--enable_latency_logging`` every request takes
        KServe's route, which writes those lines."""
        if not self.model.ready or self.model.enable_latency_logging:
            return None
        content_type, binary = None, None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == BINARY_HEADER:
                binary = value
            elif key.startswith(b"ce-"):
                return None
        if protocol == "v2" and binary is not None:
            return binary
        if content_type == b"application/json" or (content_type is None and protocol == "v1"):
            return "json"
        return None


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
