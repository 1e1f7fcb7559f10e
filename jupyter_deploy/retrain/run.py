"""``retrain``: re-run the notebook that built the model with new parameters, and promote only if better.

One run, in order:
1. check everything that can be checked without a kernel: the notebook and its deployment, the
   parameters against its ``parameters`` cell (``parameters.py``), the ``--promote-if`` gate (``gate.py``);
2. open an MLflow run (``mlflow_store.py``) with the parameters; its id goes to the kernel as
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

import json
import math
import os
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

RUNS_DIR = Path(".jupyter-deploy") / "retrain"
ENGINE = "jupyter-deploy"
METRICS_MARKER = "__jupyter_deploy_metrics__"
EXPORT_TAG = "jupyter-deploy-export"
CELL_CALLBACK = "jd_on_cell"  # engine keyword: called with 'cell N: first line' as each cell starts
KERNEL_START = "jd_kernel_start"  # engine keyword: the kernel's own env and cwd (never this process's)


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

    with _sigterm_as_interrupt():
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
    say(f"MLflow run {run_id} ({store.uri}); executed notebook: {_shown(executed)}")
    try:
        export, found = _run_notebook(
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
            manifests, registered = _promote(store, root, name, export, run_id, canary)
    except BaseException as error:
        _fail(store, run_id, executed, error)
        if isinstance(error, JupyterDeployError) and not isinstance(error, RetrainError):
            # the error as raised (its class, fields, HTTP status), saying where the run's notebook is
            error.message = f"{error.message}; executed notebook kept: {_shown(executed)}"
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


def _run_notebook(
    notebook: Path,
    label: str,
    root: Path,
    run_dir: Path,
    executed: Path,
    name: str,
    values: dict[str, Any],
    gate: Gate,
    store: Any,
    run_id: str,
    timeout: float | None,
    progress: bool,
    on_cell: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the notebook under papermill; returns (the export's version, path, created) and gate metrics."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from ..versions.execute import KERNEL_NAME, _result, export_cell, kernel_name

    node = load_notebook_node(str(notebook))  # with the metadata papermill expects on every cell
    kernel = kernel_name()
    if kernel != KERNEL_NAME:
        # with the tags list papermill expects on every cell (it looks for the parameters cell by tag)
        node.cells.insert(0, nbformat.v4.new_code_cell("%load_ext jupyter_deploy", metadata={"tags": []}))
    if values:
        node = parameterize_notebook(node, values, kernel_name=kernel, language="python")
    # the export reads cells from this copy: the injected parameters are what the kernel ran
    parameterized = run_dir / "parameterized.ipynb"
    nbformat.write(node, parameterized)
    final = nbformat.v4.new_code_cell(export_cell(root, parameterized, name, False, []) + _metrics_cell(gate))
    final.metadata["tags"] = [EXPORT_TAG]
    node.cells.append(final)
    environment = {
        **os.environ,
        "MLFLOW_RUN_ID": run_id,
        "JD_MLFLOW_RUN_ID": run_id,  # mlflow.start_run() in the notebook consumes MLFLOW_RUN_ID
        "MLFLOW_TRACKING_URI": store.uri,
        "JD_PROJECT_ROOT": str(root),
        "JD_NOTEBOOK_PATH": str(parameterized),
        "JD_NOTEBOOK_LABEL": label,
        "JD_EXPORT_NO_PROMOTE": "1",
    }
    try:
        result = papermill.execute_notebook(
            node,
            str(executed),
            parameters=values or None,
            engine_name=_engine(),
            kernel_name=kernel,
            language="python",
            progress_bar={"desc": "retrain", "leave": False} if progress else False,
            # no papermill cwd (it would chdir this whole process): the kernel starts there instead
            execution_timeout=timeout,
            # the run's results are saved by then; a graceful shutdown only adds about a second
            shutdown_kernel="immediate",
            **{KERNEL_START: {"env": environment, "cwd": str(notebook.parent)}},
            **({CELL_CALLBACK: on_cell} if on_cell is not None else {}),
        )
    except PapermillExecutionError as error:
        raise RetrainError(
            f"retraining {name} failed in {_cell_label(executed, notebook)}: {error.ename}: "
            f"{error.evalue}; executed notebook kept: {_shown(executed)}",
            str(executed),
            run_id,
        ) from None
    except TimeoutError:
        raise RetrainError(
            f"retraining {name} timed out after {timeout:g} s in {_cell_label(executed, notebook)}; "
            f"executed notebook kept: {_shown(executed)}",
            str(executed),
            run_id,
        ) from None
    except RuntimeError as error:  # nbclient's DeadKernelError and kernel start failures
        raise RetrainError(
            f"retraining {name} failed: the kernel died or did not start ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); executed notebook kept: {_shown(executed)}",
            str(executed),
            run_id,
        ) from None
    exported = _result(result.cells[-1])
    return (
        {"version": exported.info.version, "path": exported.path, "created": exported.created},
        _metrics_found(result.cells[-1]),
    )


def _metrics_cell(gate: Gate) -> str:
    """Lines that print the gate's metrics found as plain numbers in the kernel's namespace."""
    if not gate.metrics:
        return ""
    return f"""
_jd_metrics = {{}}
for _jd_name in {gate.metrics!r}:
    _jd_value = globals().get(_jd_name)
    if hasattr(_jd_value, "item") and getattr(_jd_value, "ndim", 1) == 0:
        _jd_value = _jd_value.item()
    if isinstance(_jd_value, (int, float)) and not isinstance(_jd_value, bool):
        _jd_metrics[_jd_name] = float(_jd_value)
print({METRICS_MARKER!r} + _jd_json.dumps(_jd_metrics))
"""


def _metrics_found(cell: Any) -> dict[str, float]:
    for output in cell.get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(METRICS_MARKER):
                found = json.loads(line[len(METRICS_MARKER) :])
                return {key: value for key, value in found.items() if math.isfinite(value)}
    return {}


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


def _promote(
    store: Any, root: Path, name: str, export: dict[str, Any], run_id: str, canary: int | None
) -> tuple[dict[str, Any] | None, str]:
    """Registry, manifests, ``CURRENT``: all or nothing. The registry goes first (a remote store is what most
    often refuses), ``CURRENT`` last (one rename, the commit point); a step failing undoes the ones before."""
    from ..cluster.manifests import deploy_dir

    version = export["version"]
    source = store.log_version(run_id, export["path"])
    aliased = store.aliased_version(name)
    registered = store.register(name, version, run_id, source)  # all or nothing itself
    directory = deploy_dir(root, name)
    before = _snapshot(directory)
    try:
        manifests = _promote_manifests(root, name, version, canary)
        version_store.set_current(root, name, version)
    except BaseException:
        _restore(directory, before)
        store.unregister(name, registered, aliased)
        raise
    return manifests, registered


def _promote_manifests(root: Path, name: str, version: str, canary: int | None) -> dict[str, Any] | None:
    """Regenerate ``deploy/NAME/`` for the promoted version when it exists (or a canary is asked for)."""
    from ..cluster.manifests import deploy_dir, write_manifests

    if canary is None and not deploy_dir(root, name).is_dir():
        return None
    return write_manifests(root, f"{name}@{version}", {"canary": canary} if canary is not None else None)


def _snapshot(directory: Path) -> dict[Path, bytes] | None:
    """Every file under ``directory`` (None: no such directory), to put back if the promotion fails."""
    if not directory.is_dir():
        return None
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def _restore(directory: Path, files: dict[Path, bytes] | None) -> None:
    import shutil

    if files is None:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for path in [path for path in directory.rglob("*") if path.is_file() and path not in files]:
        path.unlink()
    for path, content in files.items():
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


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


def _cell_label(executed: Path, notebook: Path) -> str:
    """'cell 7 (id ab12: model = MLP(...))': the cell that failed, or was running, numbered as in the source."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except Exception:  # not written (yet): nothing more precise to say
        return "a cell"
    failing = next(
        (cell for cell in cells if any(out.get("output_type") == "error" for out in cell.get("outputs", []))),
        None,
    ) or next(
        (cell for cell in cells if cell.get("metadata", {}).get("papermill", {}).get("status") == "running"),
        None,
    )
    if failing is None:
        return "a cell"
    tags = failing.get("metadata", {}).get("tags", [])
    if EXPORT_TAG in tags:
        return "the export after the last cell"
    if "injected-parameters" in tags:
        return "the injected parameters cell"
    source_ids = [cell.get("id") for cell in nbformat.read(notebook, as_version=4).cells]
    number = source_ids.index(failing.get("id")) + 1 if failing.get("id") in source_ids else None
    first = next((line.strip() for line in failing.source.splitlines() if line.strip()), "")
    ident = f"id {failing.id}: " if failing.get("id") else ""
    return f"cell {number or '?'} ({ident}{first[:50]})"


def _engine() -> str:
    """papermill's nbclient engine, with the cell being run shown in the progress bar."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            from papermill.clientwrap import PapermillNotebookClient
            from papermill.engines import logger
            from papermill.utils import merge_kwargs, remove_args

            start = nb_man.cell_start
            on_cell = kwargs.pop(CELL_CALLBACK, None)
            kernel_start = kwargs.pop(KERNEL_START, {})

            def cell_start(cell: Any, cell_index: int | None = None, **more: Any) -> None:
                start(cell, cell_index, **more)
                if cell_index is None:
                    return
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                if nb_man.pbar is not None:
                    nb_man.pbar.set_description(f"cell {cell_index + 1}: {first[:40]}")
                if on_cell is not None:
                    on_cell(f"cell {cell_index + 1}: {first[:80]}")

            nb_man.cell_start = cell_start
            _throttle_saves(nb_man)
            # NBClientEngine's own body, plus the kernel's env and cwd, which only execute() passes on to
            # the kernel manager (papermill has no keyword for them)
            timeout = kwargs.pop("execution_timeout", None) or kwargs.get("timeout")
            options = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            options = merge_kwargs(
                options,
                timeout=timeout,
                startup_timeout=options.pop("start_timeout", 60),
                kernel_name=kernel_name,
                log=logger,
                log_output=options.pop("log_output", False),
                stdout_file=options.pop("stdout_file", None),
                stderr_file=options.pop("stderr_file", None),
            )
            return PapermillNotebookClient(nb_man, **options).execute(**kernel_start)

    papermill_engines.register(ENGINE, ProgressEngine)
    return ENGINE


SAVE_EVERY_SECONDS = 5.0


def _throttle_saves(nb_man: Any) -> None:
    """papermill writes the whole output notebook twice per cell; write at most every few seconds instead,
    and always when a cell raises and when the run ends (papermill's ``finally``), so nothing is lost."""
    import time

    save = nb_man.save
    state = {"last": time.monotonic(), "force": False}

    def throttled(**kwargs: Any) -> None:
        now = time.monotonic()
        if state["force"] or now - state["last"] >= SAVE_EVERY_SECONDS:
            state["last"] = now
            save(**kwargs)

    def forcing(hook: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            state["force"] = True
            try:
                return hook(*args, **kwargs)
            finally:
                state["force"] = False

        return run

    nb_man.save = throttled
    nb_man.cell_exception = forcing(nb_man.cell_exception)
    nb_man.notebook_complete = forcing(nb_man.notebook_complete)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
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


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
