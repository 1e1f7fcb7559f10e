"""A real JupyterLab (started here, with a token, on 127.0.0.1 and a free port) and headless Chromium.

The browser is Debian's ``/usr/bin/chromium`` (``JD_CHROMIUM`` overrides it) driven by Python playwright;
playwright's own browser downloads do not work here. Screenshots go to ``test-output/ui/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
OUTPUT = Path(os.environ.get("JD_TEST_OUTPUT", REPO / "test-output")) / "ui"
CHROMIUM = os.environ.get("JD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def page_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_lab(tmp_path: Path, *extra_args: str) -> Iterator[Lab]:
    """JupyterLab serving a fresh root that holds ``doubler.ipynb``; stopped (and waited for) afterwards."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(DATA / "panel_doubler.ipynb", root / "doubler.ipynb")
    # no "receive Jupyter news?" toast over the page
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *extra_args,
    ]  # fmt: skip
    log_path = tmp_path / "jupyterlab.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/api/status?token={token}", process, log_path)
        yield Lab(url=url, token=token, root=root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab with jupyter-deploy installed as a user has it (both extensions enabled)."""
    with running_lab(tmp_path) as running:
        yield running


@pytest.fixture
def lab_without_server_extension(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab whose server extension is disabled: the panel loads, its requests get 404."""
    with running_lab(tmp_path, "--ServerApp.jpserver_extensions=jupyter_deploy=False") as running:
        yield running


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def screenshots() -> Path:
    """Where the browser tests save their screenshots (git-ignored)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest):
    """A page in headless Chromium with a fresh profile; a screenshot is saved if the test fails."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
            if getattr(request.node, "failed", False):
                page.screenshot(path=str(OUTPUT / f"{request.node.name}-failure.png"))
        finally:
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report


@pytest.fixture
def lab_with_cluster(tmp_path: Path, kubeconfig: Path) -> Iterator[Lab]:
    """JupyterLab whose jupyter-deploy applies to the real API server of the ``kubeconfig`` fixture."""
    with running_lab(tmp_path, f"--JupyterDeployApp.kubeconfig={kubeconfig}") as running:
        yield running
