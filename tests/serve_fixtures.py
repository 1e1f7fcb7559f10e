"""Fixtures for the serving tests: small notebooks exported once per session, real servers over loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"
SERVE_NOTEBOOKS = (
    "serve_scale.ipynb",
    "serve_slow.ipynb",
    "serve_torch.ipynb",
    "serve_gate.ipynb",
    "serve_picky.ipynb",
    "serve_frame.ipynb",
    "serve_words.ipynb",
)


@pytest.fixture(scope="session")
def serve_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with deployments scale (numpy), slow (200 ms sync predict), tiny (torch), gate (calls held
    at a file, answered with their order), picky (refuses rows as notebook code can fail), frame (a DataFrame)
    and words (a list of strings), statically exported (no kernel) from the notebooks under tests/data/."""
    from jupyter_deploy.versions.export import export_notebook

    root = tmp_path_factory.mktemp("serve-project")
    for notebook in SERVE_NOTEBOOKS:
        export_notebook(DATA / notebook, root=root)
    return root


@pytest.fixture
def start_server(serve_root: Path) -> Iterator[Callable[..., Any]]:
    """``start_server("scale", max_batch_size=8, ...)`` -> a ready ``LocalServer``, stopped after the test."""
    from jupyter_deploy.serving.local import start_server as start

    started: list[Any] = []

    def factory(spec: str, **options: Any) -> Any:
        options.setdefault("port", 0)
        server = start(serve_root, spec, **options)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def scale_server(serve_root: Path) -> Iterator[Any]:
    """The numpy ``scale`` deployment served unbatched, shared by a module's tests."""
    from jupyter_deploy.serving.local import start_server

    server = start_server(serve_root, "scale", port=0)
    yield server
    server.stop()


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on ``port`` (Linux: /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                if width == 8:
                    found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


@pytest.fixture
def run_predictor(serve_root: Path) -> Iterator[Callable[..., Any]]:
    """``run_predictor("scale", "--flag", ..., ready=True, preexec_fn=None)`` -> the ``python predictor.py`` process
    of a deployment's current version on a free port (``process.port``), its output in ``process.log``; with
    ``ready`` it has answered ``/v2/health/ready`` (or exited). Killed after the test."""
    import subprocess
    import sys
    import time
    import urllib.request

    from jupyter_deploy.runtime.listen import free_port
    from jupyter_deploy.versions.store import resolve

    started: list[Any] = []

    def factory(name: str, *arguments: str, ready: bool = True, preexec_fn: Any = None) -> Any:
        _, version_dir = resolve(serve_root, name)
        port = free_port()
        log = version_dir.parent / f"predictor-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "predictor.py", "--http_port", str(port), *arguments],
                cwd=version_dir,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=preexec_fn,
            )
        process.port, process.log = port, log  # type: ignore[attr-defined]
        started.append(process)
        deadline = time.monotonic() + 120
        while ready and process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        return process

    yield factory
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
