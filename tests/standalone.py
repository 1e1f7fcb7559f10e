"""A version run the way an image runs it: a fresh virtual environment built from its ``requirements.txt``
alone (pip, from the package index), a copy of the version directory, ``python predictor.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fresh_venv(version_dir: Path, where: Path) -> Path:
    """A new venv with exactly what the version's requirements.txt asks for; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=version_dir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def standalone_server(python: Path, version_dir: Path, workdir: Path, name: str) -> Iterator[str]:
    """``python predictor.py`` from a copy of the version directory alone; yields the base URL once ready."""
    copy = shutil.copytree(version_dir, workdir / "version")
    port = free_port()
    log = (workdir / "server.log").open("wb")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    process = subprocess.Popen(
        [str(python), "predictor.py", "--http_port", str(port), "--model_name", name],
        cwd=copy,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (workdir / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/v2/models/{name}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the standalone version did not become ready in 180 s"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
