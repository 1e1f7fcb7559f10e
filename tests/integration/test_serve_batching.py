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
