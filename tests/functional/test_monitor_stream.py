"""``monitor`` reads payload logs as a stream: the memory it needs does not grow with the logs.

Real parts: a version exported from tests/data/serve_scale.ipynb, logs written by the runtime's own
``PayloadLog`` (JSON Lines and Parquet), ``run_monitor`` as the CLI calls it. Memory is what ``tracemalloc``
sees Python allocate (Arrow's own buffers are not traced; they are one batch at a time). The chunk and block
sizes are made small so that a few megabytes of logs span many of them; the benchmark (``benchmarks/monitor.py``)
measures the real sizes. Oracles: the row counts written, and the same requests logged in the other format."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
ROWS_PER_REQUEST = 100


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jupyter_deploy.versions.export import export_notebook

    project = tmp_path_factory.mktemp("monitor-stream").resolve()
    export_notebook(DATA / "serve_scale.ipynb", root=project)
    return project


def write_log(directory: Path, requests: int, log_format: str) -> None:
    """``requests`` requests of ROWS_PER_REQUEST rows, logged by the runtime's writer as the server logs them."""
    from jupyter_deploy.runtime.payload_log import PayloadLog

    log = PayloadLog(directory, "scale", "v1", log_format=log_format, queue_size=requests + 1)
    rng = np.random.default_rng(requests)
    for index in range(requests):
        rows = np.abs(rng.normal(2.0, 1.0, size=(ROWS_PER_REQUEST, 3))).astype(np.float32)
        log.record({"instances": rows.tolist()}, {"x-request-id": f"r{index}"}, rows, rows * 2.0 + 1.0)
    log.close()


def monitored(root: Path, payloads: Path) -> tuple[dict[str, Any], int]:
    """The result of ``run_monitor`` and the peak of memory Python allocated while it ran."""
    from jupyter_deploy.monitor.check import run_monitor

    tracemalloc.start()
    try:
        result = run_monitor(root, "scale", payloads, log_to_mlflow=False)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("log_format", ["jsonl", "parquet"])
def test_memory_does_not_grow_with_the_logs(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    from jupyter_deploy.monitor import logfiles

    monkeypatch.setattr(logfiles, "CHUNK_ROWS", 4_000)
    monkeypatch.setattr(logfiles, "BLOCK_BYTES", 64 * 1024)
    small, large = tmp_path / "small", tmp_path / "large"
    write_log(small, 100, log_format)  # 10,000 rows
    write_log(large, 600, log_format)  # 60,000 rows
    monitored(root, small)  # imports and first-use caches out of the way
    small_result, small_peak = monitored(root, small)
    large_result, large_peak = monitored(root, large)
    assert (small_result["rows"], large_result["rows"]) == (10_000, 60_000)
    assert (small_result["requests"], large_result["requests"]) == (100, 600)
    # six times the logs, the same memory (reading everything at once took about six times as much)
    assert large_peak < 1.3 * small_peak, (small_peak, large_peak)


def test_both_formats_give_the_same_figures(root: Path, tmp_path: Path) -> None:
    from jupyter_deploy.monitor.check import run_monitor
    from jupyter_deploy.runtime.payload_log import PayloadLog

    logs = {log_format: PayloadLog(tmp_path / log_format, "scale", "v1", log_format=log_format)
            for log_format in ("jsonl", "parquet")}  # fmt: skip
    rng = np.random.default_rng(5)
    for index in range(300):
        rows = np.abs(rng.normal(3.0, 2.0, size=(1 + index % 7, 3))).astype(np.float32)
        for log in logs.values():
            log.record({"instances": rows.tolist()}, {"x-request-id": f"r{index}"}, rows, rows * 2.0 + 1.0)
    for log in logs.values():
        log.close()
    results = [run_monitor(root, "scale", tmp_path / log_format, log_to_mlflow=False) for log_format in logs]
    keys = ("psi", "statistic", "p_value", "observed_rows", "observed_missing", "chart")
    figures = [[{key: feature[key] for key in keys} for feature in result["features"]] for result in results]
    assert figures[0] == figures[1] and len(figures[0]) == 6
    assert results[0]["requests"] == results[1]["requests"] == 300
    assert results[0]["rows"] == results[1]["rows"] == sum(1 + index % 7 for index in range(300))
