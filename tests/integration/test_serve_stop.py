"""A stopped ``jupyter-deploy serve`` never leaves its predictor running, whenever the signal comes: SIGTERM
while the predictor starts, right when serve says it is ready, a while later, and SIGKILL (no handler can
run: the predictor dies with its parent, Linux's parent-death signal)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_fixtures import listening_addresses

pytestmark = pytest.mark.server


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: /proc/PID/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """Exited (or a zombie waiting for whichever process adopted it to reap it)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("moment", "how"),
    [
        ("while the predictor starts", signal.SIGTERM),
        ("as soon as it is ready", signal.SIGTERM),
        ("after it is ready", signal.SIGTERM),
        ("after it is ready", signal.SIGKILL),
    ],
    ids=["SIGTERM while starting", "SIGTERM at ready", "SIGTERM after ready", "SIGKILL after ready"],
)
def test_a_stopped_serve_takes_its_predictor_with_it(serve_root: Path, moment: str, how: signal.Signals) -> None:
    from jupyter_deploy.runtime.listen import free_port

    port = free_port()
    command = [sys.executable, "-m", "jupyter_deploy.cli", "serve", "scale", "--root", str(serve_root)]
    serve = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: children(serve.pid), 60, "serve started no predictor")
        (predictor,) = children(serve.pid)
        if moment != "while the predictor starts":
            assert serve.stdout is not None
            line = serve.stdout.readline()  # the first line serve prints is its banner, once ready
            assert line.startswith("Serving scale v1"), line
        if moment == "after it is ready":
            time.sleep(1.0)
        serve.send_signal(how)
        _, stderr = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
    wait_until(lambda: gone(predictor), 30, f"the predictor outlived serve ({moment}, {how.name})")
    wait_until(lambda: not listening_addresses(port), 10, "something still listens on the port")
    if how == signal.SIGTERM:
        assert serve.returncode in (0, 130), (serve.returncode, stderr)  # a clean stop, or 'interrupted'
        assert "Traceback" not in stderr
    else:
        assert serve.returncode == -signal.SIGKILL


def test_the_parent_death_signal_is_armed_only_on_the_main_thread() -> None:
    """The parent-death signal follows the thread that started the child: a server started from a worker
    thread (the side panel's) must not die when that thread ends."""
    import threading

    from jupyter_deploy.serving.lifetime import die_with_parent

    assert die_with_parent() is not None
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(die_with_parent()))
    worker.start()
    worker.join()
    assert seen == [None]
