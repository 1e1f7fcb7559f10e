"""``retrain``: re-run the notebook that built the model with new parameters, and promote only if better.

One run, in order:
1. check everything that can be checked without a kernel: the notebook and its deployment, the
   parameters against its ``parameters`` cell (``parameters.py``), the ``--promote-if`` gate (``gate.py``);
2. open an MLflow run (``mlflow_store``) with the parameters; its id goes to the kernel as
   ``MLFLOW_RUN_ID`` so the notebook's own ``mlflow.log_*`` calls land in it;
3. run the notebook with papermill in the ``jupyter-deploy`` kernel. Its ``%%deploy`` cells run for real, and a
   final cell exports the deployment from the live kernel as the next version (lineage: the run id) without
   moving ``CURRENT``, and reports the gate's metrics found as variables;
4. the gate decides: promoted -> the model registered in the MLflow registry, manifests regenerated for the
   version (if the deployment has any, or ``--canary``), ``CURRENT`` moved, in that order and all or nothing
   (a later step failing undoes the earlier ones); else the version stays, unreferenced, and the run says why.

Any failure (a cell raises, the kernel dies, ``--timeout``, Ctrl-C or SIGTERM, a failing export, a registry
that refuses) marks the run FAILED, keeps the executed notebook under ``.jupyter-deploy/retrain/NAME/`` and
promotes nothing. An error keeps its class, fields and HTTP status (a CaptureError from the export is still a
CaptureError), with ``run_id`` and ``notebook`` added. The kernel gets the run's variables (``MLFLOW_RUN_ID``,
``JD_*``) in its own environment; this process's environment and working directory are never changed, so a
server running a retrain in a thread leaks nothing into the kernels it starts meanwhile.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..cluster.options import canary_problem
from ..exceptions import JupyterDeployError, NotFoundError, ParameterError, RetrainError
from ..versions import store as version_store
from .gate import Decision, Gate, parse_gate
from .papermill_run import run_notebook, shown
from .promote import promote

RUNS_DIR = Path(".jupyter-deploy") / "retrain"


class Terminated(KeyboardInterrupt):
    """SIGTERM during a run: handled like Ctrl-C (the run is marked FAILED, "terminated")."""


class RetrainResult(BaseModel):
    """What one retraining run did (``retrain --json``)."""

    name: str
    run_id: str
    tracking_uri: str
    version: str
    created: bool = Field(description="False when the run reproduced an existing version")
    previous: str | None = Field(description="the version that was current before the run")
    outcome: str = Field(description="promoted | rejected | unchanged")
    reason: str
    promoted: bool
    parameters: dict[str, Any]
    metrics: dict[str, float]
    notebook: str = Field(description="the executed notebook, kept")
    manifests: dict[str, Any] | None = None
    registered_version: str | None = None
    seconds: float


def retrain(
    notebook: str | Path,
    root: str | Path = ".",
    parameters: list[tuple[str, str]] | None = None,
    parameter_file: str | Path | None = None,
    name: str | None = None,
    promote_if: str | None = None,
    canary: int | None = None,
    timeout: float | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_cell: Callable[[str], None] | None = None,
) -> RetrainResult:
    """``on_cell`` (optional) is called with 'cell N: first line' as each cell starts (the side panel's progress)."""
    from .parameters import resolve_parameters

    started = time.perf_counter()
    say = log or (lambda _message: None)
    notebook, root = Path(notebook).resolve(), Path(root).resolve()
    gate = parse_gate(promote_if)
    if canary is not None and canary_problem(canary):
        raise ParameterError(f"--canary: {canary_problem(canary)}")
    if timeout is not None and timeout <= 0:
        raise ParameterError(f"--timeout {timeout}: give a positive number of seconds")
    label, name = _deployment(notebook, root, name)
    if canary is not None:  # refuse a canary KServe cannot run before the notebook runs, not after
        from ..cluster.canary import canary_precheck

        canary_precheck(root, name, canary)
    values = resolve_parameters(notebook, parameters, parameter_file)
    previous = version_store.current_version(root, name)

    with sigterm_as_interrupt():
        return _tracked_run(
            notebook, root, label, name, values, gate, previous, canary, timeout, progress, say, on_cell, started
        )


def _tracked_run(
    notebook: Path,
    root: Path,
    label: str,
    name: str,
    values: dict[str, Any],
    gate: Gate,
    previous: str | None,
    canary: int | None,
    timeout: float | None,
    progress: bool,
    say: Callable[[str], None],
    on_cell: Callable[[str], None] | None,
    started: float,
) -> RetrainResult:
    from .mlflow_store import MlflowStore

    store = MlflowStore(root)
    run_id = store.start_run(name, values, {"notebook": label, "outcome": "running"})
    run_dir = root / RUNS_DIR / name / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    executed = run_dir / notebook.name
    say(f"MLflow run {run_id} ({store.uri}); executed notebook: {shown(executed)}")
    try:
        export, found = run_notebook(
            notebook, label, root, run_dir, executed, name, values, gate, store, run_id, timeout, progress, on_cell
        )
        store.log_metrics(
            run_id, {key: value for key, value in found.items() if key not in (store.metrics(run_id) or {})}
        )
        metrics = store.metrics(run_id) or {}
        decision, outcome = _decide(gate, export, previous, metrics, root, name, store)
        store.log_notebook(run_id, executed)
        # recorded before promoting: a failure below overwrites it with "failed" and the reason
        store.set_tags(run_id, {"version": export["version"], "outcome": outcome, "reason": decision.reason})
        manifests, registered = None, None
        if outcome == "promoted":  # the last step
            manifests, registered = promote(store, root, name, export, run_id, canary)
    except BaseException as error:
        _fail(store, run_id, executed, error)
        if isinstance(error, JupyterDeployError) and not isinstance(error, RetrainError):
            # the error as raised (its class, fields, HTTP status), saying where the run's notebook is
            error.message = f"{error.message}; executed notebook kept: {shown(executed)}"
            error.run_id, error.notebook = run_id, str(executed)  # type: ignore[attr-defined]
        raise
    store.end_run(run_id, "FINISHED")
    return RetrainResult(
        name=name,
        run_id=run_id,
        tracking_uri=store.uri,
        version=export["version"],
        created=export["created"],
        previous=previous,
        outcome=outcome,
        reason=decision.reason,
        promoted=outcome == "promoted",
        parameters=values,
        metrics=metrics,
        notebook=str(executed),
        manifests=manifests,
        registered_version=registered,
        seconds=round(time.perf_counter() - started, 3),
    )


def _deployment(notebook: Path, root: Path, name: str | None) -> tuple[str, str]:
    """(the notebook relative to the root, the deployment's name), from the saved notebook's annotations."""
    from ..notebook.annotations import find_deployments, select_deployment
    from ..notebook.read import read_notebook
    from ..versions.export import _relative, default_name

    if not notebook.is_file():
        raise NotFoundError(f"{notebook}: no such notebook")
    label = _relative(notebook, root)
    source = read_notebook(notebook)
    deployment = select_deployment(find_deployments(source, default_name(label)), name, label)
    return label, deployment.name


def _decide(
    gate: Gate,
    export: dict[str, Any],
    previous: str | None,
    metrics: dict[str, float],
    root: Path,
    name: str,
    store: Any,
) -> tuple[Decision, str]:
    version = export["version"]
    if version == previous:
        return Decision(False, f"the run reproduced {version}, which is already current"), "unchanged"
    current_metrics = None
    if previous is not None:
        info = version_store.read_info(version_store.version_path(root, name, previous))
        current_metrics = store.metrics(info.mlflow_run_id) or {}
    decision = gate.evaluate(metrics, current_metrics, previous)
    return decision, "promoted" if decision.passed else "rejected"


def _fail(store: Any, run_id: str, executed: Path, error: BaseException) -> None:
    """Mark the run FAILED with the reason, keeping the executed notebook (in the run too, if written)."""
    if isinstance(error, KeyboardInterrupt):
        reason = "terminated" if isinstance(error, Terminated) else "interrupted"
    else:
        reason = str(error).split("; executed notebook")[0]
    try:
        store.set_tags(run_id, {"outcome": "failed", "reason": reason[:500]})
        if executed.is_file():
            store.log_notebook(run_id, executed)
    finally:
        store.end_run(run_id, "FAILED")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CronJob's pod deleted, ``kill``) raises ``Terminated`` like Ctrl-C raises KeyboardInterrupt,
    so the run is closed as FAILED. Signal handlers belong to the main thread: elsewhere, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: Any) -> None:
        raise Terminated("terminated")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
