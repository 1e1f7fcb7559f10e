"""Retraining jobs started from the side panel: ``retrain()`` in a background thread, one at a time.

A job records the cell being run (progress), then the ``RetrainResult`` or the error's one-line message.
Only one job runs at a time in a server: a run sets the process environment its kernel inherits
(``MLFLOW_RUN_ID`` and friends), so two at once would mix their runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..error_wire import error_payload
from ..exceptions import JupyterDeployError, NotFoundError
from .run import RetrainResult


class BusyError(JupyterDeployError):
    """A retraining job is already running in this server. HTTP 409."""

    status = 409


class RetrainCancelled(JupyterDeployError):
    """Raised in the job's thread at the next cell start once the job is cancelled."""


class RetrainJob(BaseModel):
    """``GET /jupyter-deploy/retrain/JOB``."""

    id: str
    name: str | None = Field(description="the deployment, as requested (None: the notebook's only one)")
    notebook: str
    status: Literal["running", "succeeded", "failed"]
    cell: str | None = Field(default=None, description="the cell being run, 'cell N: first line'")
    result: RetrainResult | None = None
    message: str | None = Field(default=None, description="why the job failed, one line")
    error: dict[str, Any] | None = Field(
        default=None, description="the failure as raised: {error: class name, message, status: HTTP, fields}"
    )
    cancelled: bool = Field(default=False, description="cancelled from the side panel (the run is FAILED)")


class RetrainJobs:
    """The jobs of one server, newest last; each runs in its own daemon thread."""

    def __init__(self) -> None:
        self.jobs: dict[str, RetrainJob] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.started: dict[str, float] = {}

    def start(self, notebook: Path, label: str, root: Path, name: str | None, **options: Any) -> RetrainJob:
        with self.lock:
            running = [job for job in self.jobs.values() if job.status == "running"]
            if running:
                raise BusyError(
                    f"retraining job {running[0].id} ({running[0].notebook}) is still running: wait for it to finish"
                )
            job = RetrainJob(id=uuid.uuid4().hex[:12], name=name, notebook=label, status="running")
            self.jobs[job.id] = job
            self.started[job.id] = time.time()
        thread = threading.Thread(
            target=self._run, args=(job, notebook, root, name, options), name=f"retrain-{job.id}", daemon=True
        )
        self.threads.append(thread)
        thread.start()
        return job.model_copy()

    def get(self, job_id: str) -> RetrainJob:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no retraining job {job_id!r} in this server")
            return job.model_copy()

    def _run(self, job: RetrainJob, notebook: Path, root: Path, name: str | None, options: dict[str, Any]) -> None:
        from .run import retrain

        def on_cell(cell: str) -> None:
            with self.lock:
                job.cell = cell
                if job.cancelled:  # between cells: stop before the next one starts
                    raise RetrainCancelled("retraining cancelled")

        try:
            result = retrain(notebook, root=root, name=name, on_cell=on_cell, **options)
        except Exception as error:  # the job reports it; nothing else would
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if not isinstance(error, JupyterDeployError):
                message = f"{type(error).__name__}: {message}"
            if job.cancelled:
                message = "cancelled from the side panel"
                _tag_cancelled(root, getattr(error, "run_id", None))
            payload = (
                error_payload(error)
                if isinstance(error, JupyterDeployError)
                else {"error": type(error).__name__, "message": message, "status": 500, "fields": {}}
            )
            with self.lock:
                job.status, job.message, job.error = "failed", message, payload
            return
        with self.lock:
            job.status, job.result, job.name = "succeeded", result, result.name

    def cancel(self, job_id: str, timeout: float = 60) -> RetrainJob:
        """Stop a running job: its kernel is terminated (a cell may run for hours), the run ends FAILED."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no retraining job {job_id!r} in this server")
            if job.status != "running":
                raise BusyError(f"retraining job {job_id} has already {job.status}: nothing to cancel")
            job.cancelled = True
        _terminate_kernels(self.started[job_id])
        for thread in self.threads:
            if thread.name == f"retrain-{job_id}":
                thread.join(timeout)
        return self.get(job_id)

    def join(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)


def _terminate_kernels(since: float) -> None:
    """SIGTERM the kernels this server started for retraining since ``since`` (one job runs at a time):
    the child processes whose environment carries the run id ``retrain`` gives its kernel."""
    import psutil

    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if child.create_time() >= since - 1 and "JD_MLFLOW_RUN_ID" in child.environ():
                child.send_signal(signal.SIGTERM)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue


def _tag_cancelled(root: Path, run_id: str | None) -> None:
    """The run's reason says it was cancelled (``retrain`` already ended it FAILED)."""
    if not run_id:
        return
    from .mlflow_store import MlflowStore

    with contextlib.suppress(Exception):  # the job's own message says it anyway
        MlflowStore(root).set_tags(run_id, {"outcome": "failed", "reason": "cancelled from the side panel"})
