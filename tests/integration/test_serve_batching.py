"""Adaptive batching under real concurrent requests: the same answers as unbatched, request by request."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.server


async def _post_all(url: str, bodies: list[dict[str, Any]]) -> list[Any]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        responses = await asyncio.gather(*(client.post(url, json=body) for body in bodies))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    return [r.json()["predictions"] for r in responses]


def _histogram_count(metrics: str, name: str) -> float:
    match = re.search(rf'^{name}_count{{model_name="tiny"}} (\S+)$', metrics, re.M)
    return float(match.group(1)) if match else 0.0


def test_batched_results_equal_unbatched_request_by_request(start_server: Any) -> None:
    plain = start_server("tiny")
    batched = start_server("tiny", max_batch_size=16, max_latency_ms=20)
    # 48 concurrent requests of 1 to 3 rows each, all different
    bodies = [{"instances": [[(i + r) / 7.0, i / 11.0, r / 3.0, 1.0] for r in range(1 + i % 3)]} for i in range(48)]
    expected = asyncio.run(_post_all(plain.v1_url, bodies))
    actual = asyncio.run(_post_all(batched.v1_url, bodies))
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert len(got) == len(want) == len(bodies[index]["instances"])
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"request {index}")

    metrics = httpx.get(f"{batched.base_url}/metrics").text
    batches = _histogram_count(metrics, "jupyter_deploy_batch_requests")
    assert 0 < batches < 48, "concurrent requests were not batched"
    rows = float(re.search(r'^jupyter_deploy_batch_rows_sum{model_name="tiny"} (\S+)$', metrics, re.M).group(1))
    assert rows == sum(len(body["instances"]) for body in bodies)


def test_a_lone_request_is_not_held(start_server: Any) -> None:
    server = start_server("tiny", max_batch_size=32, max_latency_ms=500)
    with httpx.Client() as client:
        client.post(server.v1_url, json={"instances": [[0, 0, 0, 0]]})
        start = time.perf_counter()
        for _ in range(5):
            assert client.post(server.v1_url, json={"instances": [[1, 2, 3, 4]]}).status_code == 200
        per_request = (time.perf_counter() - start) / 5
    # a held request would take the whole 500 ms; half of it leaves room for a loaded 2-core CI machine
    assert per_request < 0.25, f"a lone request took {per_request * 1000:.0f} ms with max_latency_ms=500"


def test_export_refuses_batching_a_predictor_that_cannot_batch(tmp_path: Path) -> None:
    from jupyter_deploy.exceptions import OptionsError
    from jupyter_deploy.versions.export import export_notebook

    notebook = Path(__file__).resolve().parent.parent / "data" / "serve_unbatchable.ipynb"
    with pytest.raises(OptionsError, match=r"--max-batch-size 4: this predictor cannot batch: .*returned shape \[3\]"):
        export_notebook(notebook, root=tmp_path)
    assert not (tmp_path / "deployments" / "mean" / "v1").exists()


def _batched_round(server: Any, rows: list[list[float]]) -> list[httpx.Response]:
    """A request that holds the inference thread (a row of 5: 0.5 s), then ``rows`` one request each, sent
    together while it runs: they queue up and run as one batch."""

    async def send() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(rows) + 1)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            holder = asyncio.ensure_future(client.post(server.v1_url, json={"instances": [[5.0, 5.0]]}))
            await asyncio.sleep(0.2)
            answers = await asyncio.gather(*(client.post(server.v1_url, json={"instances": [row]}) for row in rows))
            assert (await holder).status_code == 200
            return list(answers)

    return asyncio.run(send())


def _largest_batch(server: Any) -> float:
    """The most requests one batched predict call ran, from the server's own histogram."""
    metrics = httpx.get(f"{server.base_url}/metrics").text
    counts = re.findall(r'^jupyter_deploy_batch_requests_bucket{le="([^"]+)",model_name="picky"} (\S+)$', metrics, re.M)
    total = max(float(count) for _, count in counts)
    return min(float(le) for le, count in counts if float(count) == total)


@pytest.mark.parametrize(
    ("bad_row", "words"),
    [
        ([-1.0, 0.0], "ValueError: -1 is not a valid input"),
        ([-2.0, 0.0], "SystemExit"),
        ([-3.0, 0.0], "KeyboardInterrupt"),
    ],
    ids=["exception", "SystemExit", "KeyboardInterrupt"],
)
def test_one_bad_request_fails_alone_and_the_server_stays_up(
    start_server: Any, bad_row: list[float], words: str
) -> None:
    """A batch whose call fails runs its requests again one by one: only the request that fails alone gets an
    error; the others get the answers they would get unbatched (x * 2); notebook code raising SystemExit or
    KeyboardInterrupt fails its request, not the server."""
    server = start_server("picky", max_batch_size=32, max_latency_ms=20)
    rows = [[float(i), 1.0] for i in range(1, 8)] + [bad_row] + [[float(i), 2.0] for i in range(8, 16)]
    _batched_round(server, [row for row in rows if row is not bad_row])
    assert _largest_batch(server) >= 8, "the same round without the bad request did not batch: the test proves nothing"
    answers = _batched_round(server, rows)
    for row, answer in zip(rows, answers, strict=True):
        if row is bad_row:
            assert answer.status_code == 500 and words in answer.json()["error"], answer.text
        else:
            assert answer.status_code == 200, (row, answer.text)
            assert answer.json() == {"predictions": [[2.0 * row[0], 2.0 * row[1]]]}
    again = httpx.post(server.v1_url, json={"instances": [[1.0, 2.0]]}, timeout=10)
    assert again.json() == {"predictions": [[2.0, 4.0]]}
    assert server.running
