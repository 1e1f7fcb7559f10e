"""The serving command lines read every flag or refuse it: ``python predictor.py`` (KServe's flags and ours, one
parser) and ``jupyter-deploy serve``. A misspelt flag is one line and a non-zero exit, never ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.server


def predictor_output(serve_root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    from jupyter_deploy.versions.store import resolve

    _, version_dir = resolve(serve_root, "scale")
    command = [sys.executable, "predictor.py", *arguments]
    return subprocess.run(command, cwd=version_dir, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-batch-sise", "8"], "predictor.py: error: unrecognized arguments: --max-batch-sise 8"),
        (["--http_port", "eighty"], "predictor.py: error: argument --http_port: invalid int value: 'eighty'"),
        (["--enable_grpc", "maybe"], "predictor.py: error: argument --enable_grpc: invalid boolean value: 'maybe'"),
    ],
    ids=["misspelt flag", "bad value of a KServe flag", "bad boolean"],
)
def test_the_predictor_refuses_a_bad_command_line_in_one_line(
    serve_root: Path, arguments: list[str], message: str
) -> None:
    """KServe parses the command line when it is imported and ignores what it does not know; the predictor
    reads it once, with KServe's flags and its own, and refuses what it cannot read before loading anything."""
    result = predictor_output(serve_root, *arguments)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "--help" in lines[0]


def test_jupyter_deploy_serve_refuses_a_misspelt_flag(serve_root: Path) -> None:
    command = [sys.executable, "-m", "jupyter_deploy.cli", "serve", "scale", "--root", str(serve_root)]
    result = subprocess.run([*command, "--max-batch-sise", "8"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "error: unrecognized arguments: --max-batch-sise 8" in result.stderr
    assert "Traceback" not in result.stderr and "Serving" not in result.stdout


def test_kserves_own_flags_still_reach_kserve(run_predictor: Any) -> None:
    """KServe's flags that it reads from its import-time parse (``--enable_docs_url`` decides its app's routes)
    work although the predictor hides the command line from that parse; ours (``--max_batch_size``) too."""
    process = run_predictor("scale", "--enable_docs_url", "true", "--max_batch_size", "4")
    assert process.poll() is None, process.log.read_text()
    base = f"http://127.0.0.1:{process.port}"
    assert httpx.get(f"{base}/docs").status_code == 200
    answer = httpx.post(f"{base}/v1/models/scale:predict", json={"instances": [[1, 2, 3]]})
    assert answer.json() == {"predictions": [[3.0, 5.0, 7.0]]}
    metrics = httpx.get(f"{base}/metrics").text
    assert 'jupyter_deploy_batch_rows_count{model_name="scale"} 1.0' in metrics  # batching is on
