"""A served model's payload log never loses requests silently: a full disk is counted in ``/metrics`` and
said once in the server's log; a directory it cannot write into is refused at start, in one line."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.server

LIMIT_BYTES = 16 * 1024
REQUESTS = 300


def start_predictor(version_dir: Path, arguments: list[str], preexec_fn: Any) -> tuple[Any, int, list[str]]:
    """``python predictor.py`` whose output goes to a pipe (a pipe has no file-size limit), read by a thread."""
    from jupyter_deploy.runtime.listen import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "predictor.py", "--http_port", str(port), *arguments],
        cwd=version_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=preexec_fn,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    return process, port, lines


def dropped(metrics: str, reason: str) -> float:
    match = re.search(
        rf'^jupyter_deploy_payloads_dropped_total{{model_name="scale",reason="{reason}"}} (\S+)$', metrics, re.M
    )
    assert match, f"no dropped-requests series for {reason}"
    return float(match.group(1))


def test_a_full_disk_is_counted_and_said_once(serve_root: Path, tmp_path: Path) -> None:
    """The disk fills up while the server runs: its process may write files of at most 16 KiB (RLIMIT_FSIZE,
    set in the predictor's process before it starts: a write past it fails with EFBIG, as on a full disk;
    Python ignores SIGXFSZ). Every request is either in a file, whole, or counted as dropped."""
    from jupyter_deploy.versions.store import resolve

    _, version_dir = resolve(serve_root, "scale")
    directory = tmp_path / "payloads"

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))

    process, port, lines = start_predictor(version_dir, ["--log-payloads", str(directory)], small_files)
    try:
        assert process.poll() is None, "".join(lines)
        url = f"http://127.0.0.1:{port}/v1/models/scale:predict"
        with httpx.Client(timeout=10) as client:
            for index in range(REQUESTS):
                answer = client.post(url, json={"instances": [[index, 0.5, 1.0]]})
                assert answer.status_code == 200, answer.text
            time.sleep(1.0)  # the writer thread's last rounds (it wakes every 50 ms)
            metrics = client.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        process.terminate()
        process.wait(30)
    logged = [line for path in sorted(directory.glob("*.jsonl")) for line in path.read_bytes().splitlines(True)]
    assert all(line.endswith(b"\n") for line in logged), "a broken line was left in a file"
    inputs = [json.loads(line)["inputs"][0][0] for line in logged]
    assert 0 < len(inputs) < REQUESTS and inputs == sorted(inputs)  # the first ones, whole, in order
    assert dropped(metrics, "write_failed") == REQUESTS - len(inputs)
    assert dropped(metrics, "queue_full") == 0
    warnings = [line for line in lines if "payload log: writing to" in line and "failed" in line]
    assert len(warnings) == 1 and "File too large" in warnings[0], lines[-20:]


def test_a_directory_it_cannot_write_is_refused_at_start(serve_root: Path, run_predictor: Any) -> None:
    """/proc/1 exists and takes no files: the predictor and ``jupyter-deploy serve`` refuse it in one line."""
    process = run_predictor("scale", "--log-payloads", "/proc/1")
    assert process.wait(60) == 1
    said = process.log.read_text().strip().splitlines()
    assert said == [f"jupyter-deploy: cannot write payload logs into /proc/1: {said[-1].split(': ')[-1]}"], said

    command = [sys.executable, "-m", "jupyter_deploy.cli", "serve", "scale", "--root", str(serve_root), "--port", "0"]
    result = subprocess.run([*command, "--log-payloads", "/proc/1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"jupyter-deploy: error: cannot write payload logs into /proc/1: {said[-1].split(': ')[-1]}"
    ]
    assert "Serving" not in result.stdout
