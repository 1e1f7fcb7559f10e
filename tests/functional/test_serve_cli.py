"""`jupyter-deploy serve` in a terminal and `%deploy serve` / `%deploy stop` in a kernel, against real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_fixtures import listening_addresses

pytestmark = pytest.mark.server


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    assert process.stdout is not None
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in the output: {''.join(seen)}")


def test_cli_serves_prints_a_working_curl_and_stops_on_sigterm(serve_root: Path) -> None:
    command = [sys.executable, "-m", "jupyter_deploy.cli", "serve", "scale", "--port", "0", "--root", str(serve_root)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    try:
        output = _read_until(process, "Press Ctrl-C")
        assert "Serving scale v1 at http://127.0.0.1:" in output
        curl = next(line.strip() for line in output.splitlines() if line.strip().startswith("curl "))
        answer = subprocess.run(curl + " -s", shell=True, capture_output=True, text=True, check=True)
        assert json.loads(answer.stdout) == {"predictions": [[3.0, 5.0, 7.0], [9.0, 11.0, 13.0]]}
        port = int(output.split("http://127.0.0.1:")[1].split()[0].rstrip(")").split("/")[0])
        assert listening_addresses(port) == {"127.0.0.1"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert listening_addresses(port) == set()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_reports_a_busy_port_in_one_line(serve_root: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter_deploy.cli",
                "serve",
                "scale",
                "--port",
                str(port),
                "--root",
                str(serve_root),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"jupyter-deploy: error: cannot listen on 127.0.0.1:{port} (Address already in use): "
        "another server uses it; stop it or pass another --port"
    )


def test_a_predictor_whose_port_is_taken_says_so_and_exits_with_its_own_code(serve_root: Path) -> None:
    import socket

    from jupyter_deploy.runtime.listen import PORT_IN_USE_EXIT

    version = serve_root / "deployments" / "scale" / "v1"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "predictor.py", "--http_port", str(port)],
            cwd=version, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == PORT_IN_USE_EXIT
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_picked_port_that_another_process_takes_first_is_picked_again(
    serve_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--port 0``: the port we pick may be taken before the server binds it (another server starting at
    the same moment); the next pick serves. A real socket holds the first pick."""
    import socket

    from jupyter_deploy.serving import local

    real_free_port = local.free_port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken])
        monkeypatch.setattr(local, "free_port", lambda host: next(picks, None) or real_free_port(host))
        server = local.start_server(serve_root, "scale", port=0, timeout=120)
        try:
            assert server.port != taken
            answer = httpx.post(server.v1_url, json={"instances": [[0, 0, 0]]}).json()
            assert answer == {"predictions": [[1.0, 1.0, 1.0]]}
        finally:
            server.stop()
        with pytest.raises(local.PortTaken, match=f"127.0.0.1:{taken}"):
            local.start_server(serve_root, "scale", port=taken, timeout=120)  # a port the user chose: no retry


def test_kernel_serve_and_stop(serve_root: Path) -> None:
    from jupyter_deploy.jupyter.kernel_serve import serve_command, stop_command
    from jupyter_deploy.serving.local import REGISTRY

    card: Any = serve_command(None, ["scale", "--root", str(serve_root), "--max-batch-size", "8"])
    try:
        assert "scale v1: serving at http://127.0.0.1:" in repr(card)
        server = REGISTRY["scale"]
        assert server.options == {"max_batch_size": 8}
        assert httpx.post(server.v1_url, json={"instances": [[0, 0, 0]]}).json() == {"predictions": [[1.0, 1.0, 1.0]]}
        html = card.widget.children[0].value
        assert server.v1_url in html and "running" in html
    finally:
        stopped = stop_command(None, ["scale"])
    assert repr(stopped) == "scale v1: stopped"
    assert "scale" not in REGISTRY and not server.running
