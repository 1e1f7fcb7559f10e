"""The only module that talks to MLflow: runs, their params, metrics and notebooks, and the registry.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set, else a sqlite store at the project root
(``sqlite:///<root>/mlflow.db``, artifacts under ``<root>/mlruns/``). Each deployment has an experiment,
``jupyter-deploy/NAME``; a retraining run is tagged with what it produced and whether it was promoted, which
is what ``jupyter-deploy runs NAME`` lists. ``mlflow`` is imported on first use only.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import JupyterDeployError, NotFoundError

DB_FILE = "mlflow.db"
ARTIFACT_DIR = "mlruns"
EXPERIMENT_PREFIX = "jupyter-deploy/"
TAG = "jupyter_deploy."  # prefix of our run and model-version tags
ALIAS = "current"  # registry alias of the promoted model version


def tracking_uri(root: str | Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the sqlite store at the project root."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{(Path(root).resolve() / DB_FILE).as_posix()}"


def experiment_name(name: str) -> str:
    return f"{EXPERIMENT_PREFIX}{name}"


class MlflowStore:
    """One tracking store; every method maps MLflow's errors to one-line JupyterDeployErrors."""

    def __init__(self, root: str | Path) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        self.root = Path(root).resolve()
        self.uri = tracking_uri(root)
        self.local = not os.environ.get("MLFLOW_TRACKING_URI")
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # -- runs --------------------------------------------------------------------------------------------
    def experiment_id(self, name: str, create: bool = True) -> str | None:
        experiment = self.client.get_experiment_by_name(experiment_name(name))
        if experiment is not None:
            return str(experiment.experiment_id)
        if not create:
            return None
        location = (self.root / ARTIFACT_DIR).as_uri() if self.local else None
        return str(self.client.create_experiment(experiment_name(name), artifact_location=location))

    def start_run(self, name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id(name) or "0",
            tags={
                f"{TAG}name": name,
                **{f"{TAG}{key}": value for key, value in {**_process_tags(), **tags}.items()},
            },
            run_name=f"retrain-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}",
        )
        run_id = str(run.info.run_id)
        if params:
            self.client.log_batch(run_id, params=[Param(key, _param_text(value)) for key, value in params.items()])
        return run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        if not metrics:
            return
        stamp = int(datetime.now(timezone.utc).timestamp() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(key, float(value), stamp, 0) for key, value in metrics.items()])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(f"{TAG}{key}", str(value)) for key, value in tags.items()])

    def log_notebook(self, run_id: str, path: str | Path) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path="notebook")

    def log_version(self, run_id: str, version_dir: str | Path) -> str:
        """Copy the version's files into the run; returns the artifact URI the registry points at."""
        self.client.log_artifacts(run_id, str(version_dir), artifact_path="predictor")
        return f"runs:/{run_id}/predictor"

    def end_run(self, run_id: str, status: str) -> None:
        """``FINISHED`` or ``FAILED`` (the kernel's own end-of-run, if any, is overridden)."""
        self.client.set_terminated(run_id, status)

    def metrics(self, run_id: str | None) -> dict[str, float] | None:
        """The run's latest metric values; None when there is no such run."""
        if not run_id:
            return None
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return None
        return {key: float(value) for key, value in run.data.metrics.items()}

    def runs(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The retraining runs of ``name``, newest first, as plain dicts."""
        experiment = self.experiment_id(name, create=False)
        if experiment is None:
            raise NotFoundError(
                f"no retraining runs for {name!r} in {self.uri}: run jupyter-deploy retrain NOTEBOOK --name {name}"
            )
        runs = self.client.search_runs([experiment], order_by=["attributes.start_time DESC"], max_results=limit)
        return [_run_dict(run) for run in runs]

    # -- registry ----------------------------------------------------------------------------------------
    def register(self, name: str, version: str, run_id: str, source: str) -> str:
        """Register the promoted version as a model version of ``name``; alias ``current`` points at it.
        All or nothing: when a step is refused, what the earlier ones added is removed again."""
        aliased = self.aliased_version(name)
        model_version: str | None = None
        try:
            if not self._exists(name):
                self.client.create_registered_model(
                    name, description=f"jupyter-deploy deployment {name} (deployments/{name}/)"
                )
            created = self.client.create_model_version(name, source, run_id=run_id, tags={f"{TAG}version": version})
            model_version = str(created.version)
            self.client.set_registered_model_alias(name, ALIAS, model_version)
        except Exception as error:  # MlflowException, or the database's own error from a SQL store
            self.unregister(name, model_version, aliased, quiet=True)
            text = getattr(error, "message", None) or str(error).splitlines()[0]
            raise JupyterDeployError(f"registering {name} {version} in {self.uri} failed: {text}") from None
        return model_version

    def aliased_version(self, name: str) -> str | None:
        """The model version alias ``current`` points at (None: no model, or no alias yet)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, ALIAS).version)
        except MlflowException:
            return None

    def unregister(self, name: str, model_version: str | None, aliased: str | None, quiet: bool = False) -> None:
        """Undo ``register``: remove ``model_version``, point ``current`` back at ``aliased``, and remove the
        registered model if it is left empty. ``quiet``: best effort (the original error is what counts)."""
        try:
            if model_version is not None:
                self.client.delete_model_version(name, model_version)
            if aliased is not None:
                self.client.set_registered_model_alias(name, ALIAS, aliased)
            elif self._exists(name) and not self.client.search_model_versions(f"name = '{name}'"):
                self.client.delete_registered_model(name)
        except Exception:
            if not quiet:
                raise

    def _exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            return False
        return True

    def registered_versions(self, name: str) -> list[dict[str, Any]]:
        return [
            {
                "version": str(item.version),
                "run_id": item.run_id,
                "tags": dict(item.tags),
                "source": item.source,
            }
            for item in self.client.search_model_versions(f"name = '{name}'")
        ]


def _param_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _run_dict(run: Any) -> dict[str, Any]:
    tags = run.data.tags
    ours = {key[len(TAG) :]: value for key, value in tags.items() if key.startswith(TAG)}
    status = run.info.status
    if status == "RUNNING" and _process_gone(ours):  # killed (SIGKILL, a lost pod): it never closed its run
        status = "FAILED"
        ours = {**ours, "outcome": "failed", "reason": f"process gone (pid {ours['pid']} on {ours['host']})"}
    started = datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc) if run.info.start_time else None
    return {
        "run_id": run.info.run_id,
        "started": started.replace(microsecond=0).isoformat().replace("+00:00", "Z") if started else None,
        "status": status,
        "outcome": ours.get("outcome", "running" if status == "RUNNING" else status.lower()),
        "version": ours.get("version"),
        "reason": ours.get("reason", ""),
        "notebook": ours.get("notebook"),
        "params": dict(run.data.params),
        "metrics": {key: float(value) for key, value in run.data.metrics.items()},
    }


def _process_tags() -> dict[str, str]:
    """Which process runs the run: its pid, host and start time (a reused pid is not the same process)."""
    import socket

    return {"pid": str(os.getpid()), "host": socket.gethostname(), "process_started": _started(os.getpid()) or ""}


def _process_gone(tags: dict[str, str]) -> bool:
    """True when the run's process is known to be dead: same host, and no such pid (or another process with it).
    A run from another host, or from before these tags, cannot be checked and stays as recorded."""
    import socket

    if not tags.get("pid", "").isdigit() or tags.get("host") != socket.gethostname():
        return False
    now = _started(int(tags["pid"]))
    if now is None:
        return True
    recorded = tags.get("process_started", "")
    return bool(now and recorded) and now != recorded


def _started(pid: int) -> str | None:
    """The process's start time as text, None when there is no such process."""
    import psutil  # jupyter_client and ipykernel depend on it

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return ""
