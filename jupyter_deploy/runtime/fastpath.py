"""The hot path for plain JSON v1 predict requests, answered without FastAPI's routing stack.

KServe's REST app spends most of a small model's request time on its middleware, routing, dependency
resolution and response objects (measured: about four fifths of the server's time for a 32->64->64->4 MLP).
A ``POST /v1/models/NAME:predict`` with a JSON body, for the served model once it is ready, is answered here
with the same result and the same error bodies KServe gives (``{"predictions": ...}``, ``{"error": ...}``
with 400 for bad input and 500 for a failing predict), and counted in KServe's own predict histogram.
Anything else, CloudEvents included, goes to KServe's app unchanged, with the body replayed when it has
already been read.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from kserve.errors import InferenceError, InvalidInput
from kserve.logging import logger

Scope = dict[str, Any]
JSON_HEADERS = [(b"content-type", b"application/json")]


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class FastPredict:
    def __init__(self, app: Any, model: Any) -> None:
        self.app = app
        self.model = model
        self.path = f"/v1/models/{model.name}:predict"
        from kserve.metrics import PREDICT_HIST_TIME

        self.histogram = PREDICT_HIST_TIME.labels(model_name=model.name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST" or not self._plain(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or "specversion" in payload:  # KServe's own messages and CloudEvents
            await self.app(scope, _replay(body, receive), send)
            return
        status, answer = 200, None
        start = time.perf_counter()
        try:
            answer = _dumps(await self.model.predict(self.model.validate(payload), None))
        except InvalidInput as error:
            logger.warning("%s: bad request: %s", self.model.name, error)
            status, answer = 400, _dumps({"error": str(error)})
        except Exception as error:  # the messages of KServe's own inference_error and generic handlers
            logger.error("%s: predict failed", self.model.name, exc_info=error)
            message = str(error) if isinstance(error, InferenceError) else f"{type(error).__name__} : {error}"
            status, answer = 500, _dumps({"error": message})
        self.histogram.observe(time.perf_counter() - start)
        headers = [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def _plain(self, scope: Scope) -> bool:
        """Ready, a bare JSON content type (the guard strips parameters) and no binary CloudEvent headers."""
        if not self.model.ready:
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


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
