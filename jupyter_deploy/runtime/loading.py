"""Serving while the model loads: the server listens first, and ``load()`` runs on a thread of its own.

A large model (weights pulled from storage) loads for minutes, and Kubernetes restarts a container whose
liveness probe goes unanswered that long. So the port opens before the load: ``LoadingGate`` answers liveness
(``/``, ``/v2/health/live``) and metrics while the model loads, and 503 with a JSON error to everything else,
readiness included (KServe's ``/v2/health/ready`` says ready as soon as the server runs, and its model routes
would call ``load()`` a second time, on the event loop). ``load_while_serving`` runs the load once the server
listens and opens the gate when it is done; a load that fails stops the server and raises its error, so the
process ends as it did when loading came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

LIVE_PATHS = frozenset({"/", "/v2/health/live", "/metrics"})
RETRY_AFTER_S = 5


class LoadingGate:
    """ASGI: until ``loaded``, liveness and metrics pass and every other HTTP request gets a 503 at once."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.loaded = False
        self._body = json.dumps({"error": f"Model with name {name} is loading: not ready yet"}).encode()
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
        ]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.loaded or scope["type"] != "http" or scope["path"] in LIVE_PATHS:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 503, "headers": self._headers})
        await send({"type": "http.response.body", "body": self._body})


async def load_while_serving(server: Any, serving: asyncio.Future[Any], load: Callable[[], None], gate: Any) -> None:
    """Run ``load`` once ``server`` (uvicorn's, served by the task ``serving``) listens; open ``gate`` after it."""
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if serving.done():
        return  # it never listened (the port was taken) or was stopped: awaiting it says why
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[BaseException | None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the server stopped during the load
            loop.call_soon_threadsafe(finished.set_result, error)

    def run() -> None:
        try:
            load()
        except BaseException as error:  # SystemExit too: a loader's refusal ends the process with its line
            settle(error)
        else:
            settle(None)

    # a daemon thread: a SIGTERM during the load stops the server and the process without waiting for it
    threading.Thread(target=run, name="jd-load", daemon=True).start()
    await asyncio.wait({finished, serving}, return_when=asyncio.FIRST_COMPLETED)
    if not finished.done():
        return  # the server stopped first (SIGTERM)
    error = finished.result()
    if error is not None:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        raise error
    gate.loaded = True
