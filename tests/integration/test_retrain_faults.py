"""Retraining when things go wrong, with the real parts: papermill in a real kernel, a real sqlite MLflow store,
real signals to a real ``jupyter-deploy retrain`` process.

- promotion is all or nothing: a registry that refuses (a trigger in the project's own sqlite store, the real
  database error MLflow gets from a store it may not write) leaves CURRENT, manifests and the registry as they were;
- a retrain run in a server thread (``RetrainJobs``, what the panel uses) changes neither ``os.environ`` nor the
  working directory while it runs, and a CaptureError from the export cell keeps its class, field and status;
- SIGTERM closes the run as FAILED "terminated"; after SIGKILL, ``runs`` shows the run's process gone;
- after SIGTERM, while the kernel starts or while a cell runs, retrain's own "terminated" is the last line it
  prints: the kernel (and what it started) is gone before it, never left to print its own warnings after.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_deploy.cli import main
from jupyter_deploy.retrain.jobs import RetrainJobs
from jupyter_deploy.retrain.mlflow_store import MlflowStore
from jupyter_deploy.versions import store as versions

pytestmark = [pytest.mark.kernel, pytest.mark.mlflow, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parent.parent / "data" / "retrain" / "tiny.ipynb"
RUN_VARIABLES = ("JD_NOTEBOOK_PATH", "JD_EXPORT_NO_PROMOTE", "MLFLOW_RUN_ID", "JD_PROJECT_ROOT", "JD_MLFLOW_RUN_ID")


def tiny(root: Path, extra: str | None = None, predict: str | None = None) -> Path:
    """The tiny notebook in ``root``, with a cell ``extra`` after the parameters and another predict body."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "tiny.ipynb"
    shutil.copy(NOTEBOOK, path)
    node = nbformat.read(path, as_version=4)
    if extra is not None:
        node.cells.insert(2, nbformat.v4.new_code_cell(extra))
    if predict is not None:
        node.cells[-1].source = predict
    nbformat.write(node, path)
    return path


def deploy_files(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in (root / "deploy").rglob("*") if path.is_file()}


def test_a_refused_registration_promotes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = tiny(tmp_path)
    args = ["retrain", str(notebook), "--root", str(tmp_path), "--json", "--promote-if", "score > current"]
    assert main([*args, "-p", "scale", "2"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["outcome"] == "promoted" and first["registered_version"] == "1"
    assert main(["manifests", "tiny", "--root", str(tmp_path)]) == 0
    capsys.readouterr()
    before = deploy_files(tmp_path)
    # the store refuses to move the registry's alias: the model version is created, the alias is not
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        for event in ("INSERT", "UPDATE"):
            db.execute(
                f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON registered_model_aliases "
                "BEGIN SELECT RAISE(ABORT, 'registry is read-only'); END"
            )
        db.commit()

    assert main([*args, "-p", "scale", "3"]) == 1
    error = capsys.readouterr().err
    assert "registering tiny v2" in error and "registry is read-only" in error
    assert versions.current_version(tmp_path, "tiny") == "v1"
    assert deploy_files(tmp_path) == before
    store = MlflowStore(tmp_path)
    assert [item["run_id"] for item in store.registered_versions("tiny")] == [first["run_id"]]
    assert store.client.get_model_version_by_alias("tiny", "current").run_id == first["run_id"]
    failed = store.runs("tiny")[0]
    assert failed["status"] == "FAILED" and "registry is read-only" in failed["reason"]


def test_a_panel_retrain_leaks_nothing_and_keeps_the_error_class(tmp_path: Path) -> None:
    from jupyter_deploy.exceptions import CaptureError

    # a live object no capture kind accepts, defined in no source the closure could take instead: the export in
    # the kernel raises CaptureError(name="guard")
    predict = "%%deploy predict --name tiny\ndef predict(x):\n    with guard:\n        return np.asarray(x) * weights"
    notebook = tiny(tmp_path, extra="import threading\nglobals()['guard'] = threading.Lock()", predict=predict)
    environ, cwd = dict(os.environ), os.getcwd()
    seen: set[str] = set()
    jobs = RetrainJobs()
    job = jobs.start(notebook, notebook.name, tmp_path, None)
    while jobs.get(job.id).status == "running":  # watch this process while the kernel runs
        seen.update(key for key in RUN_VARIABLES if key in os.environ)
        if os.getcwd() != cwd:
            seen.add("cwd")
        time.sleep(0.01)
    jobs.join()
    assert seen == set()
    assert dict(os.environ) == environ and os.getcwd() == cwd
    done = jobs.get(job.id)
    assert done.status == "failed" and done.error is not None, done
    assert done.error["error"] == "CaptureError" and done.error["status"] == CaptureError.status == 400
    assert done.error["fields"]["name"] == "guard" and done.error["fields"]["run_id"]
    run = MlflowStore(tmp_path).runs("tiny")[0]
    assert run["run_id"] == done.error["fields"]["run_id"] and run["status"] == "FAILED"


def start_retrain(root: Path) -> subprocess.Popen[bytes]:
    command = "import sys; from jupyter_deploy.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", command, "retrain", str(root / "tiny.ipynb"), "--root", str(root), "--no-progress"],
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_for_running_run(root: Path, process: subprocess.Popen[bytes], count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        # the run's directory is made once its run exists: opening the store before then would race the
        # process creating its schema
        run_dirs = list((root / ".jupyter-deploy" / "retrain" / "tiny").glob("*"))
        if len(run_dirs) == count:
            runs = MlflowStore(root).runs("tiny")
            assert len(runs) == count and runs[0]["status"] == "RUNNING", runs
            time.sleep(2)  # into the notebook: the kernel runs the sleeping cell
            return runs[0]
        time.sleep(0.5)
    raise AssertionError("the retrain process never started its run")


def stop(process: subprocess.Popen[bytes], signal_number: int) -> int:
    process.send_signal(signal_number)
    try:
        return process.wait(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever it left in its session
            os.killpg(process.pid, signal.SIGKILL)


def test_sigterm_fails_the_run_and_sigkill_shows_it_gone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny(tmp_path, extra="import time\ntime.sleep(120)")
    process = start_retrain(tmp_path)
    run = wait_for_running_run(tmp_path, process, 1)
    assert stop(process, signal.SIGTERM) == 128 + 15
    assert process.stderr is not None and "terminated" in process.stderr.read().decode()
    ended = MlflowStore(tmp_path).client.get_run(run["run_id"])
    assert ended.info.status == "FAILED" and ended.data.tags["jupyter_deploy.reason"] == "terminated"

    process = start_retrain(tmp_path)
    run = wait_for_running_run(tmp_path, process, 2)
    assert stop(process, signal.SIGKILL) == -signal.SIGKILL
    assert MlflowStore(tmp_path).client.get_run(run["run_id"]).info.status == "RUNNING"  # nobody closed it
    assert main(["runs", "tiny", "--root", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["status"], item["outcome"]) for item in listed] == [("FAILED", "failed"), ("FAILED", "failed")]
    assert listed[0]["reason"].startswith("process gone (pid ")
    assert listed[1]["reason"] == "terminated"


def kernels_of(pid: int) -> list[int]:
    """The kernel processes the retrain process started (its children running ipykernel)."""
    found = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                if b"ipykernel" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("moment", ["kernel starting", "cell running"])
def test_after_sigterm_retrains_own_line_is_the_last(tmp_path: Path, moment: str) -> None:
    tiny(tmp_path, extra="import time\ntime.sleep(120)")
    process = start_retrain(tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (kernels := kernels_of(process.pid)):  # the kernel process exists: it is starting
            assert process.poll() is None and time.monotonic() < deadline, "no kernel was started"
            time.sleep(0.02)
        if moment == "cell running":
            wait_for_running_run(tmp_path, process, 1)
        process.send_signal(signal.SIGTERM)
        # read to the end: the pipe ends when every process that holds it (a kernel left behind too) is gone
        assert process.stderr is not None
        err = process.stderr.read().decode()
        assert process.wait(timeout=90) == 128 + 15, err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == "jupyter-deploy: terminated", err
    assert not any(alive(kernel) for kernel in kernels)
    run = MlflowStore(tmp_path).runs("tiny")[0]
    assert run["status"] == "FAILED" and run["reason"] == "terminated", run
