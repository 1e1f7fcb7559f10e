"""The payload log's writer (bounded queue, rotation, JSON Lines and Parquet) and reading its files back:
real files in a temporary directory, read with the monitor's own reader and with pandas."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_deploy.exceptions import MonitorError
from jupyter_deploy.monitor.payloads import read_payloads
from jupyter_deploy.runtime import payload_files
from jupyter_deploy.runtime.payload_log import PayloadLog


def wait_drained(log: PayloadLog, timeout: float = 10.0) -> None:
    """Until the writer thread has taken and written everything queued (it wakes every 50 ms)."""
    deadline = time.monotonic() + timeout
    while log.pending and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the round that took the last request finishes writing it


def log_rows(log: PayloadLog, rows: np.ndarray) -> None:
    for index, row in enumerate(rows):
        log.record({"instances": [row.tolist()]}, {"x-request-id": f"r{index}"}, row[None, :], row[None, :2] * 2)


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, "scale", "v1", queue_size=5)
    log_rows(log, np.ones((200, 3)))  # far faster than the writer's 50 ms wake-up: most are dropped
    log.close()
    assert log.dropped > 0 and log.written + log.dropped == 200
    lines = sum(path.read_text().count("\n") for path in tmp_path.glob("*.jsonl"))
    assert lines == log.written


def test_jsonl_rotates_by_size_and_reads_back_whole(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).normal(size=(300, 3))
    log = PayloadLog(tmp_path, "scale", "v1", content_hash="abc", rotate_bytes=4000)
    for start in range(0, 300, 50):  # several writer rounds, so that files fill and rotate
        log_rows(log, rows[start : start + 50])
        wait_drained(log)
    log.close()
    files = sorted(tmp_path.glob("*.jsonl"))
    assert len(files) > 3 and all(path.name.startswith("scale-v1-") for path in files)
    first = json.loads(files[0].read_text().splitlines()[0])
    assert first["deployment"] == "scale" and first["content_hash"] == "abc" and first["request_id"] == "r0"
    assert first["input_columns"] == ["0", "1", "2"] and first["output_columns"] == ["0", "1"]
    # a line still being written (no newline yet) is left out, not an error
    with files[-1].open("a") as stream:
        stream.write('{"timestamp": "2026-')
    logged = read_payloads(tmp_path, "scale")
    assert logged.requests == 300
    np.testing.assert_array_equal(np.array([logged.inputs[k] for k in ("0", "1", "2")]).T, rows)
    np.testing.assert_array_equal(np.array(logged.outputs["1"]), rows[:, 1] * 2)


def test_parquet_is_renamed_into_place_when_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payload_files, "PARQUET_ROW_GROUP", 5)
    rows = np.arange(30, dtype=np.float64).reshape(10, 3)
    log = PayloadLog(tmp_path, "scale", "v2", log_format="parquet")
    log_rows(log, rows)
    wait_drained(log)  # row groups on disk, the file still open
    assert list(tmp_path.glob("*.parquet.part")) and not list(tmp_path.glob("*.parquet"))
    log.close()
    (path,) = tmp_path.glob("*.parquet")
    assert not list(tmp_path.glob("*.part"))
    frame = pd.read_parquet(path)
    assert list(frame["input.2"]) == list(rows[:, 2]) and set(frame["version"]) == {"v2"}
    logged = read_payloads(tmp_path, "scale")
    assert logged.requests == 10 and logged.outputs["0"] == list(rows[:, 0] * 2)


def test_dataframe_requests_log_their_columns(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, "churn", "v1")
    frame = pd.DataFrame({"age": [31.0, None], "plan": pd.Categorical(["pro", "free"]), "note": ["a", None]})
    log.record({"instances": []}, None, frame, np.array([0.2, 0.9]))
    log.close()
    record = json.loads(next(tmp_path.glob("*.jsonl")).read_text())
    assert record["input_columns"] == ["age", "plan", "note"]
    assert record["inputs"] == [[31.0, "pro", "a"], [None, "free", None]]
    assert record["outputs"] == [[0.2], [0.9]]


def test_records_of_another_deployment_are_refused(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, "other", "v1")
    log_rows(log, np.ones((2, 3)))
    log.close()
    with pytest.raises(MonitorError, match="holds payloads of deployment 'other', not 'scale'"):
        read_payloads(tmp_path, "scale")


def dropped_metric(deployment: str, reason: str) -> float | None:
    """What ``/metrics`` would show: the process's Prometheus registry, read through prometheus_client."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(
        "jupyter_deploy_payloads_dropped_total", {"model_name": deployment, "reason": reason}
    )


@pytest.mark.parametrize("kind", ["/proc/1", "under a file", "a file"])
def test_a_directory_that_cannot_be_written_is_refused_at_start(tmp_path: Path, kind: str) -> None:
    """Root may write anywhere its permissions say, so the start-up check writes for real: /proc/1 (exists,
    takes no files), a path under a regular file, a regular file."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    directory = {"/proc/1": Path("/proc/1"), "under a file": a_file / "logs", "a file": a_file}[kind]
    with pytest.raises(SystemExit) as refused:
        PayloadLog(directory, "scale", "v1")
    message = str(refused.value)
    assert message.startswith(f"jupyter-deploy: cannot write payload logs into {directory}: ")
    assert "\n" not in message


def test_the_start_up_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path / "new" / "logs", "scale", "v1")
    log.close()
    assert list((tmp_path / "new" / "logs").iterdir()) == []


def test_failed_writes_are_counted_warned_once_and_leave_whole_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The directory is removed while the server writes and a file takes its name (a real failing file system
    call: every open under it fails with ENOTDIR): the requests of those rounds are counted, by reason, in the
    dropped-requests metric, the log says it once, and logging resumes when the directory is back."""
    directory = tmp_path / "payloads"
    log = PayloadLog(directory, "failing", "v1")
    rows = np.arange(60, dtype=np.float64).reshape(20, 3)
    log_rows(log, rows[:5])
    wait_drained(log)
    (kept,) = directory.glob("*.jsonl")
    saved = kept.read_bytes()
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    directory.write_text("not a directory any more")
    with caplog.at_level("WARNING", logger="jupyter_deploy.payload_log"):
        for start in range(5, 15, 2):  # several writer rounds, each failing
            log_rows(log, rows[start : start + 2])
            wait_drained(log)
        assert log.dropped_by["write_failed"] == 10 and log.written == 5
        assert dropped_metric("failing", "write_failed") == 10
        assert dropped_metric("failing", "queue_full") == 0  # the series exist from the start
        failures = [record for record in caplog.records if "failed" in record.getMessage()]
        assert len(failures) == 1, [record.getMessage() for record in caplog.records]
        assert str(directory) in failures[0].getMessage()
        directory.unlink()
        directory.mkdir()
        log_rows(log, rows[15:])
        log.close()
    assert log.written == 10 and log.written + log.dropped == 20
    lines = b"".join(path.read_bytes() for path in directory.glob("*.jsonl")).splitlines()
    assert [json.loads(line)["inputs"] for line in lines] == [[row] for row in rows[15:].tolist()]
    assert saved.count(b"\n") == 5
