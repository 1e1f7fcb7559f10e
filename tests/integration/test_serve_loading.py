"""The predictor listens before it loads the model: liveness answers while ``load()`` runs, readiness and every
request wait for it (503 at once, never a hang), and predictions follow once it has loaded.

Kubernetes restarts a container whose liveness probe goes unanswered; a large model pulled from storage loads
for minutes. The version here is exported from a notebook whose ``%%deploy load`` cell is held at a file the
test controls (so "during the load" is a state the test decides, not a race), served by the version's own
``python predictor.py`` on KServe's ModelServer over loopback. The oracle for the predictions is the load
cell's weights applied by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

NAME = "sleepy"
ROWS = [[1.0, 1.0], [2.0, 0.0]]
EXPECTED = [2.0 * 1.0 + 3.0 * 1.0, 2.0 * 2.0 + 3.0 * 0.0]  # the load cell's weights (2, 3), by hand
LOAD_CELL = """%%deploy load --name sleepy
gate = os.environ.get("SLEEPY_GATE")
if gate:
    Path(gate + ".loading").touch()
    deadline = time.monotonic() + 120
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
if os.environ.get("SLEEPY_FAIL"):
    raise RuntimeError("the weights are not there")
weights = np.array([2.0, 3.0])"""
PREDICT_CELL = "%%deploy predict --name sleepy\ndef predict(x):\n    return np.asarray(x) @ weights"


@pytest.fixture(scope="module")
def sleepy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import nbformat

    from jupyter_deploy.versions.export import export_notebook

    root = tmp_path_factory.mktemp("sleepy-project")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import os\nimport time\nfrom pathlib import Path\n\nimport numpy as np"),
        nbformat.v4.new_code_cell(LOAD_CELL),
        nbformat.v4.new_code_cell("%%deploy example --name sleepy\nexample_input = np.array([[1.0, 1.0]])"),
        nbformat.v4.new_code_cell(PREDICT_CELL),
    ]
    nbformat.write(notebook, root / "sleepy.ipynb")
    export_notebook(root / "sleepy.ipynb", root=root)
    return root


def call(url: str, body: Any = None, timeout: float = 5) -> tuple[int, Any]:
    """(status, JSON body) of a GET, or a POST of ``body``; an HTTP error status is an answer too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # our own loopback server
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(condition: Callable[[], bool], seconds: float, what: str, process: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the predictor exited ({process.returncode}) while waiting for {what}: {log_of(process)}")
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"no {what} after {seconds:.0f} s" + (f": {log_of(process)}" if process is not None else ""))


def log_of(process: Any) -> str:
    return process.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def predictor(sleepy_root: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``predictor(**env)`` -> the version's ``python predictor.py`` on a free port (``.port``, ``.log``)."""
    from jupyter_deploy.runtime.listen import free_port
    from jupyter_deploy.versions.store import resolve

    started: list[Any] = []

    def start(**env: str) -> Any:
        _, version_dir = resolve(sleepy_root, NAME)
        port = free_port()
        log = tmp_path / f"predictor-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "predictor.py", "--http_port", str(port)],
                cwd=version_dir,
                env={**os.environ, **env},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        process.port, process.log = port, log  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_liveness_answers_while_the_model_loads_and_readiness_waits_for_it(predictor, tmp_path):
    gate = tmp_path / "gate"
    process = predictor(SLEEPY_GATE=str(gate))
    base = f"http://127.0.0.1:{process.port}"
    wait_for(lambda: Path(f"{gate}.loading").exists(), 60, "load cell started", process)
    # the load cell is held: the server must already answer liveness (Kubernetes' livenessProbe)
    wait_for(lambda: call(f"{base}/v2/health/live", timeout=2)[0] == 200, 30, "liveness during the load", process)
    assert call(f"{base}/") == (200, {"status": "alive"})
    assert call(f"{base}/v2/health/live") == (200, {"live": True})
    # readiness and requests: 503 at once (with a JSON error), never a hang or a second load
    for path in ("/v2/health/ready", f"/v2/models/{NAME}/ready", f"/v1/models/{NAME}", f"/v2/models/{NAME}"):
        status, body = call(f"{base}{path}", timeout=2)
        assert status == 503 and "error" in body, (path, status, body)
    v2_body = {
        "inputs": [
            {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [value for row in ROWS for value in row]}
        ]
    }
    for path, body in ((f"/v1/models/{NAME}:predict", {"instances": ROWS}), (f"/v2/models/{NAME}/infer", v2_body)):
        status, answer = call(f"{base}{path}", body, timeout=2)
        assert status == 503 and NAME in answer["error"], (path, status, answer)
    assert process.poll() is None and not gate.exists()  # still loading, still alive

    gate.touch()  # the model finishes loading
    wait_for(lambda: call(f"{base}/v2/models/{NAME}/ready", timeout=2)[0] == 200, 60, "readiness", process)
    assert call(f"{base}/v2/health/ready") == (200, {"ready": True})
    assert call(f"{base}/v1/models/{NAME}") == (200, {"name": NAME, "ready": True})
    assert call(f"{base}/v1/models/{NAME}:predict", {"instances": ROWS}) == (200, {"predictions": EXPECTED})
    status, answer = call(f"{base}/v2/models/{NAME}/infer", v2_body)
    assert status == 200 and answer["outputs"][0]["data"] == EXPECTED
    assert call(f"{base}/v2/health/live") == (200, {"live": True})


def test_a_load_that_fails_after_listening_stops_the_server_with_its_error(predictor):
    process = predictor(SLEEPY_FAIL="1")
    assert process.wait(90) != 0
    log = log_of(process)
    assert "RuntimeError: the weights are not there" in log, log
    with pytest.raises(OSError):  # nothing listens any more
        call(f"http://127.0.0.1:{process.port}/v2/health/live", timeout=2)


def test_sigterm_while_loading_stops_the_server_without_waiting_for_the_load(predictor, tmp_path):
    gate = tmp_path / "gate"
    process = predictor(SLEEPY_GATE=str(gate))
    base = f"http://127.0.0.1:{process.port}"
    wait_for(lambda: call(f"{base}/v2/health/live", timeout=2)[0] == 200, 60, "liveness during the load", process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0, log_of(process)  # the held load cell would have kept it 120 s
    assert not gate.exists()


def test_serve_returns_once_the_model_has_loaded(sleepy_root, tmp_path, monkeypatch):
    from jupyter_deploy.serving.local import start_server

    gate = tmp_path / "gate"
    monkeypatch.setenv("SLEEPY_GATE", str(gate))

    def release() -> None:
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.loading").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a load that takes a while after the port is open
        gate.touch()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    server = start_server(sleepy_root, NAME, port=0)
    try:
        assert gate.exists()  # start_server waited for the load, not just for the port
        assert call(f"{server.base_url}/v1/models/{NAME}:predict", {"instances": ROWS}) == (
            200,
            {"predictions": EXPECTED},
        )
        assert server.example is not None and json.loads(server.example) == {"instances": [[1.0, 1.0]]}
    finally:
        server.stop()
        releaser.join(5)
