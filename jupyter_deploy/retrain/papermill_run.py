"""Run the notebook for a retrain under papermill: parameters injected into its ``parameters`` cell, a final
cell appended that exports the deployment from the live kernel (without moving ``CURRENT``) and prints the
gate's metrics found as variables, the kernel given the run's environment. A failing cell, a timeout or a
dead kernel becomes a ``RetrainError`` naming the cell, as numbered in the source notebook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import RetrainError
from ..project import ROOT_VARIABLE
from .engine import CELL_CALLBACK, KERNEL_START, progress_engine
from .gate import Gate

METRICS_MARKER = "__jupyter_deploy_metrics__"
EXPORT_TAG = "jupyter-deploy-export"


def run_notebook(
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

    from ..versions.execute import KERNEL_NAME, export_cell, export_result, kernel_name

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
        ROOT_VARIABLE: str(root),
        "JD_NOTEBOOK_PATH": str(parameterized),
        "JD_NOTEBOOK_LABEL": label,
        "JD_EXPORT_NO_PROMOTE": "1",
    }
    try:
        result = papermill.execute_notebook(
            node,
            str(executed),
            parameters=values or None,
            engine_name=progress_engine(),
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
        where = cell_label(executed, notebook)
        raise _failed(name, executed, run_id, f"failed in {where}: {error.ename}: {error.evalue}") from None
    except TimeoutError:
        where = cell_label(executed, notebook)
        raise _failed(name, executed, run_id, f"timed out after {timeout:g} s in {where}") from None
    except RuntimeError as error:  # nbclient's DeadKernelError and kernel start failures
        why = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise _failed(name, executed, run_id, f"failed: the kernel died or did not start ({why})") from None
    exported = export_result(result.cells[-1])
    return (
        {"version": exported.info.version, "path": exported.path, "created": exported.created},
        _metrics_found(result.cells[-1]),
    )


def _failed(name: str, executed: Path, run_id: str, what: str) -> RetrainError:
    """The run's notebook failed: say how, and where the executed notebook is kept."""
    return RetrainError(f"retraining {name} {what}; executed notebook kept: {shown(executed)}", str(executed), run_id)


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
    from ..versions.json_line import cell_json_line

    found = cell_json_line(cell, METRICS_MARKER) or {}
    return {key: value for key, value in found.items() if math.isfinite(value)}


def cell_label(executed: Path, notebook: Path) -> str:
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


def shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
