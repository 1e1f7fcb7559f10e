"""Monitor benchmark: ``jupyter-deploy monitor`` on 10, 100 and 1,000 MB of payload logs.

A tabular notebook (a DataFrame of six continuous features, one small integer feature and two categorical
ones; predict returns a score) is exported with ``--execute --reference X_train``, so the version holds a
reference profile of 20,000 training rows. Payload logs are then written in the runtime's own format by the
runtime's own code (``PayloadLog._record`` turns each request into a record, the log's JSON Lines or Parquet
writer writes and rotates the files at the default 64 MB): requests of one row (four in five) or eight rows,
drawn from a pool of 5,000 requests built from served-like rows, each with its own timestamp and request id.
For each size, ``jupyter-deploy monitor NAME --payloads DIR --no-mlflow --json`` runs in a child process
pinned to one core; its wall time, CPU time and peak memory (``wait4``: ``ru_utime + ru_stime``,
``ru_maxrss``) are printed per size, with CPU seconds per MB and the marginal cost of the larger sizes over
the smallest (start-up and imports excluded). On a shared machine the wall time includes waiting for the
core: the CPU time is what the run cost.

Targets: time linear in the size (the marginal s/MB flat), peak memory bounded by a constant, 1,000 MB in
under 60 s on one core. Usage: ``python benchmarks/monitor.py [--sizes 10 100 1000] [--format jsonl|parquet]
[--timeout S]``; the logs go to a temporary directory (about 1.1 GB for the default sizes) removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).parent / "jupyter-deploy")
NAME = "churn"
POOL = 5_000
ROTATE_BYTES = 64 * 1024 * 1024  # the runtime's default --log-rotate-mb

CELLS = (
    "import numpy as np\nimport pandas as pd",
    "rng = np.random.default_rng(0)\n"
    "n = 20_000\n"
    "X_train = pd.DataFrame({f'f{i}': rng.normal(i, 1 + i / 4, n) for i in range(6)})\n"
    "X_train['items'] = rng.integers(0, 5, n).astype(np.float64)\n"
    "X_train['plan'] = rng.choice(['free', 'pro', 'team', 'enterprise'], n, p=[0.5, 0.3, 0.15, 0.05])\n"
    "X_train['region'] = rng.choice([f'r{i}' for i in range(30)], n)\n"
    "WEIGHTS = np.linspace(-1.0, 1.0, 7)",
    "%%deploy example --name churn\nexample_input = X_train.iloc[:3]",
    "%%deploy predict --name churn\ndef predict(frame):\n"
    "    return frame[[f'f{i}' for i in range(6)] + ['items']].to_numpy() @ WEIGHTS",
)


def write_notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    )
    for index, source in enumerate(CELLS):
        cell = nbformat.v4.new_code_cell(source)
        cell["id"] = f"c{index}"
        notebook.cells.append(cell)
    nbformat.write(notebook, path)


def export(root: Path) -> None:
    write_notebook(root / "churn.ipynb")
    done = subprocess.run(
        [CLI, "export", "churn.ipynb", "--execute", "--reference", "X_train"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"export failed: {done.stderr[-2000:]}")


def request_pool(log: Any) -> list[dict[str, Any]]:
    """POOL records made by the runtime's own ``PayloadLog._record`` from DataFrame requests and answers."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    rows = 3 * POOL
    frame = pd.DataFrame({f"f{i}": rng.normal(i + 0.05, 1 + i / 4, rows) for i in range(6)})
    frame["items"] = rng.integers(0, 5, rows).astype(np.float64)
    frame["plan"] = rng.choice(["free", "pro", "team", "enterprise"], rows, p=[0.45, 0.33, 0.17, 0.05])
    frame["region"] = rng.choice([f"r{i}" for i in range(32)], rows)
    weights = np.linspace(-1.0, 1.0, 7)
    pool, start = [], 0
    for index in range(POOL):
        size = 8 if index % 5 == 4 else 1
        if start + size > rows:
            start = 0
        request = frame.iloc[start : start + size]
        start += size
        answer = request[[f"f{i}" for i in range(6)] + ["items"]].to_numpy() @ weights
        pool.append(log._record(time.time(), {"instances": []}, {}, request, answer))
    return pool


def directory_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())


def write_logs(directory: Path, megabytes: int, log_format: str) -> dict[str, int]:
    """At least ``megabytes`` MB of logs written by the runtime's own writer (``PayloadLog.writer``, rotating at
    the default 64 MB), from a pool of records made by ``PayloadLog._record``; returns what was written."""
    from datetime import datetime, timezone

    from jupyter_deploy.runtime.payload_log import PayloadLog

    directory.mkdir(parents=True)
    log = PayloadLog(directory, NAME, "v1", "0" * 64, log_format=log_format, rotate_bytes=ROTATE_BYTES)
    log.close()  # its thread stopped: its writer is driven from here, much faster than request by request
    pool = request_pool(log)
    target = megabytes * 1024 * 1024
    base = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    requests = rows = 0
    while directory_bytes(directory) < target:
        batch = []
        for _ in range(20_000 if log_format == "parquet" else 2_000):
            record = dict(pool[requests % POOL])
            stamp = datetime.fromtimestamp(base + requests / 1000, timezone.utc)
            record["timestamp"] = stamp.isoformat().replace("+00:00", "Z")
            record["request_id"] = f"{requests:032x}"
            batch.append(record)
            requests += 1
            rows += len(record["inputs"])
        log.writer.write(batch)
    log.writer.close()
    return {"requests": requests, "rows": rows, "bytes": directory_bytes(directory)}


def run_monitor(root: Path, payloads: Path, timeout: float) -> dict[str, Any]:
    """``jupyter-deploy monitor`` in a child process on one core: wall seconds, peak RSS (MB), exit status."""
    core = min(os.sched_getaffinity(0))
    started = time.perf_counter()
    child = subprocess.Popen(
        [CLI, "monitor", NAME, "--payloads", str(payloads), "--no-mlflow", "--json", "--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    deadline = started + timeout
    status, usage = 0, None
    while time.perf_counter() < deadline:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        child.kill()
        _, status, usage = os.wait4(child.pid, 0)
        return {"seconds": None, "cpu": None, "peak_mb": usage.ru_maxrss / 1024, "status": "timeout", "rows": 0}
    seconds = time.perf_counter() - started
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"monitor failed ({code}): {err.decode()[-2000:]}")
    result = json.loads(out)
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "status": code,
        "drifted": result["drifted"],
        "rows": result["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], metavar="MB")
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a size after S seconds")
    parser.add_argument("--workdir", help="where the project and logs go (default: a temporary directory)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="jd-monitor-bench-", dir=args.workdir))
    try:
        root = folder / "project"
        root.mkdir()
        started = time.perf_counter()
        export(root)
        print(f"exported {NAME} with a 20,000-row reference in {time.perf_counter() - started:.1f} s", flush=True)
        figures = []
        for megabytes in args.sizes:
            payloads = folder / f"logs-{megabytes}"
            started = time.perf_counter()
            written = write_logs(payloads, megabytes, args.format)
            generated = time.perf_counter() - started
            measured = run_monitor(root, payloads, args.timeout)
            figures.append({"mb": written["bytes"] / 1024 / 1024, **written, **measured})
            seconds = (
                "timeout"
                if measured["seconds"] is None
                else f"{measured['seconds']:.1f} s ({measured['cpu']:.1f} s CPU)"
            )
            print(
                f"  {megabytes} MB ({written['requests']} requests, {written['rows']} rows) written in "
                f"{generated:.1f} s; monitor: {seconds}, peak {measured['peak_mb']:.0f} MB",
                flush=True,
            )
            shutil.rmtree(payloads)
        report(figures, args.format)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(figures: list[dict[str, Any]], log_format: str) -> None:
    """Per size: wall and CPU seconds (the machine may be shared: CPU time is what one core spent), s/MB, the
    marginal CPU s/MB beyond the smallest size (start-up and imports excluded), peak memory."""
    print(
        f"\njupyter-deploy monitor on {log_format} payload logs, one core (child process; wait4: CPU time, ru_maxrss)"
    )
    print(
        f"{'size MB':>9}{'requests':>10}{'rows':>10}{'wall s':>8}{'CPU s':>8}{'CPU s/MB':>10}{'marginal':>10}"
        f"{'peak MB':>9}"
    )
    first = figures[0]
    for figure in figures:
        if figure["seconds"] is None:
            print(f"{figure['mb']:9.0f}{figure['requests']:10d}{figure['rows']:10d}  timeout{figure['peak_mb']:>35.0f}")
            continue
        marginal = "-"
        if figure is not first and first["cpu"] is not None:
            marginal = f"{(figure['cpu'] - first['cpu']) / (figure['mb'] - first['mb']):.3f}"
        print(
            f"{figure['mb']:9.0f}{figure['requests']:10d}{figure['rows']:10d}{figure['seconds']:8.1f}{figure['cpu']:8.1f}"
            f"{figure['cpu'] / figure['mb']:10.3f}{marginal:>10}{figure['peak_mb']:9.0f}"
        )
    last = figures[-1]
    if len(figures) > 1 and last["cpu"] is not None and first["cpu"] is not None:
        ratio = (last["cpu"] / last["mb"]) / (first["cpu"] / first["mb"])
        print(
            f"largest/smallest: CPU s/MB {ratio:.2f} (linear or better: <= 1), peak memory "
            f"{last['peak_mb'] / first['peak_mb']:.2f}x for {last['mb'] / first['mb']:.0f}x the logs (bounded: ~1); "
            f"{last['mb']:.0f} MB in {last['seconds']:.1f} s wall, {last['cpu']:.1f} s CPU (target: 1,000 MB < 60 s)"
        )


if __name__ == "__main__":
    main()
