"""Requests run in the order they arrive, whatever the dispatcher decides about running quick calls inline.

The ``gate`` deployment answers each request with its tag and the place its call took in the order predict
ran (a counter in the predictor: the oracle is the server's own order, read back by the client). A gate
holds a call on the inference thread until the test creates a file, so the test knows which requests are
queued behind it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.server


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_a_quick_request_never_overtakes_queued_ones(
    start_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher runs calls inline once the last ``WINDOW`` were quick. That state is reached while
    calls are still queued on the inference thread: a request arriving then must queue behind them."""
    from jupyter_deploy.runtime.dispatch import WINDOW

    monkeypatch.setenv("JD_TEST_GATES", str(tmp_path))
    server = start_server("gate")

    async def scenario() -> dict[int, int]:
        limits = httpx.Limits(max_connections=WINDOW + 32)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:

            def send(tag: int, gate: int = 0) -> asyncio.Task[Any]:
                body = {"instances": [[tag, gate]]}
                return asyncio.ensure_future(client.post(server.v1_url, json=body))

            async def settle() -> None:  # requests sent reach the server (and queue) before the next ones
                await asyncio.sleep(0.5)

            held = [send(1000, gate=1)]  # holds the inference thread: everything below queues behind it
            await asyncio.to_thread(wait_for, tmp_path / "1.waiting")
            quick = [send(tag) for tag in range(1, WINDOW + 1)]  # enough quick calls to turn inline on
            await settle()
            second_hold = [send(WINDOW + 1, gate=2)]  # runs once they are done, and holds the thread again
            await settle()
            behind = [send(tag) for tag in range(WINDOW + 2, WINDOW + 9)]  # queued behind the second hold
            await settle()
            (tmp_path / "1").touch()
            await asyncio.to_thread(wait_for, tmp_path / "2.waiting")
            late = [send(2000)]  # arrives while seven requests are queued, with inline calls on
            await settle()
            (tmp_path / "2").touch()
            responses = await asyncio.gather(*held, *quick, *second_hold, *behind, *late)
        assert all(response.status_code == 200 for response in responses), [r.text for r in responses]
        return {int(tag): int(order) for tag, order in (r.json()["predictions"][0] for r in responses)}

    order = asyncio.run(scenario())
    groups = [[1000], list(range(1, WINDOW + 1)), [WINDOW + 1], list(range(WINDOW + 2, WINDOW + 9)), [2000]]
    for earlier, later in itertools.pairwise(groups):
        assert max(order[tag] for tag in earlier) < min(order[tag] for tag in later), (
            f"requests {later} overtook {earlier}: {order}"
        )
