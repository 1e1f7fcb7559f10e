"""The HTTP guard in front of KServe's REST app: body limits and metrics; every request KServe answers, it answers.

A pure ASGI middleware (no per-request task or body copy when the request is fine):
- inference routes (``/v1/models/NAME:predict``, ``/v2/models/NAME/infer``) take whatever KServe takes: JSON
  with or without a Content-Type, binary v2 bodies announced by ``inference-header-content-length`` (NVIDIA's
  tritonclient sends no Content-Type), CloudEvents; a JSON Content-Type with parameters (``; charset=utf-8``)
  is reduced to the bare type, which is all KServe recognises (it would hand the body to the model as bytes),
  and a v2 body with neither a Content-Type nor the binary header is JSON (tritonclient's JSON requests), where
  KServe's v2 route would refuse it as a binary body without its header;
- a body over ``max_body_bytes`` is 413 (checked on Content-Length, and while reading chunked bodies);
- every inference request for a served model is counted and timed (``metrics.observe_request``); requests
  for other names (KServe answers 404) are not, so a client cannot grow the metrics without bound.
Errors are JSON ``{"error": MESSAGE}``, the shape KServe itself answers with.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from . import metrics

ROUTE = re.compile(
    r"^/(?:v1/models/(?P<v1>[^/:]+):(?:predict|explain)|v2/models/(?P<v2>[^/]+)(?:/versions/[^/]+)?/infer)$"
)
JSON_TYPES = {b"application/json", b"application/cloudevents+json"}
BINARY_HEADER = b"inference-header-content-length"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

Scope = dict[str, Any]


async def send_error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TooLarge(Exception):
    pass


class GuardMiddleware:
    def __init__(
        self, app: Any, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, models: frozenset[str] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.models = models
        """the served model names (None: any name in the path is counted)"""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = ROUTE.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        model, protocol = (match["v1"], "v1") if match["v1"] else (match["v2"], "v2")
        start = time.perf_counter()
        status = [500]

        async def send_and_record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if scope["method"] == "POST":
                refused = self._check_headers(scope, protocol)
                if refused is not None:
                    await send_error(send_and_record, *refused)
                    return
                receive = await self._limited(scope, receive)
            await self.app(scope, receive, send_and_record)
        except TooLarge:
            await send_error(send_and_record, 413, self._too_large())
        finally:
            if self.models is None or model in self.models:
                metrics.observe_request(model, protocol, status[0], time.perf_counter() - start)

    def _too_large(self) -> str:
        return f"request body is larger than {self.max_body_bytes} bytes (the server's --max_body_mb)"

    def _check_headers(self, scope: Scope, protocol: str) -> tuple[int, str] | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        length, typed, binary = None, False, False
        for index, (key, value) in enumerate(headers):
            if key == b"content-type":
                typed = True
                content_type = value.split(b";", 1)[0].strip().lower()
                if content_type in JSON_TYPES and content_type != value:  # KServe compares the whole header
                    headers[index] = (key, content_type)
            elif key == b"content-length":
                length = value
            elif key == BINARY_HEADER:
                binary = True
        if protocol == "v2" and not typed and not binary:
            # tritonclient sends its JSON requests without a Content-Type, which KServe's v2 route takes for
            # a binary body and refuses (400): a body without the binary header can only be JSON
            headers.append((b"content-type", b"application/json"))
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return 413, self._too_large()
        return None

    async def _limited(self, scope: Scope, receive: Any) -> Any:
        """``receive`` as is when Content-Length was checked; else the body read here under the limit."""
        if any(key == b"content-length" for key, _ in scope["headers"]):
            return receive
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                raise TooLarge
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        return replay(b"".join(chunks), receive)


def replay(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that hands the app ``body`` (already read) first, then whatever ``receive`` gives."""
    sent = False

    async def receive_again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again
