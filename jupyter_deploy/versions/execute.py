"""``export --execute``: run a saved notebook in a fresh ``jupyter-deploy`` kernel, then export there.

The notebook runs top to bottom with the project root as working directory; a final cell calls
``export_in_kernel`` with the saved notebook as the source of cells, so tags and notebook order count
and live objects come from the kernel that just built them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..error_wire import rebuild_error
from ..exceptions import NotebookError
from ..project import ROOT_VARIABLE
from ..records import ExportResult
from .json_line import cell_json_line

KERNEL_NAME = "jupyter-deploy"
RESULT_MARKER = "__jupyter_deploy_result__"
INJECTED = "jupyter_deploy_injected"  # metadata of the cells export adds (not counted in error messages)


def kernel_name() -> str:
    """Our kernelspec when installed, else the default Python kernel (with the extension loaded by a cell)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        return KERNEL_NAME
    except NoSuchKernel:
        return "python3"


def export_cell(
    root: Path,
    notebook: Path,
    name: str | None,
    allow_pickle: bool,
    requirements: list[str],
    reference: str | None = None,
) -> str:
    arguments = json.dumps(
        {
            "name": name,
            "root": str(root),
            "notebook": str(notebook),
            "allow_pickle": allow_pickle,
            "requirements": requirements,
            "reference": reference,
        }
    )
    return f"""
import json as _jd_json
from jupyter_deploy.error_wire import error_payload as _jd_error_payload
from jupyter_deploy.exceptions import JupyterDeployError as _JdError
from jupyter_deploy.jupyter.kernel_commands import export_in_kernel as _jd_export
try:
    _jd_out = {{"result": _jd_export(get_ipython(), **_jd_json.loads({arguments!r})).model_dump(mode="json")}}
except _JdError as _jd_error:
    _jd_out = _jd_error_payload(_jd_error)
print({RESULT_MARKER!r} + _jd_json.dumps(_jd_out))
"""


def execute_and_export(
    path: str | Path,
    root: str | Path = ".",
    name: str | None = None,
    allow_pickle: bool = False,
    requirements: list[str] | None = None,
    timeout: int = 600,
    progress: bool = False,
    reference: str | None = None,
) -> ExportResult:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from ..notebook.read import read_notebook

    notebook_path, root = Path(path).resolve(), Path(root).resolve()
    read_notebook(notebook_path)  # the same clear errors as a static export for a bad file
    node = nbformat.read(notebook_path, as_version=4)
    kernel = kernel_name()
    # first, in the kernel: the extension (unless the kernel preloads it), and the parity check's process
    # started now, importing kserve and the notebook's heavy libraries while the notebook runs
    setup = [] if kernel == KERNEL_NAME else ["%load_ext jupyter_deploy"]
    prewarm = f"prewarm({sorted(heavy_imports(node))!r})"
    setup.append(f"__import__('jupyter_deploy.versions.parity', fromlist=['prewarm']).{prewarm}")
    node.cells.insert(0, nbformat.v4.new_code_cell("\n".join(setup), metadata={INJECTED: True}))
    node.cells.append(
        nbformat.v4.new_code_cell(
            export_cell(root, notebook_path, name, allow_pickle, list(requirements or []), reference)
        )
    )
    # the kernel's own environment, never this process's (a server thread must not leak it to other kernels)
    env = {**os.environ, "JD_NOTEBOOK_PATH": str(notebook_path), ROOT_VARIABLE: str(root)}
    client = NotebookClient(
        node, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": str(notebook_path.parent)}}
    )
    try:
        if progress:
            _execute_with_progress(client, node, env)
        else:
            client.execute(env=env)
    except CellExecutionError as error:
        raise NotebookError(
            f"running the notebook failed in {_failing_cell(node)}: {error.ename}: {error.evalue}",
            str(path),
        ) from None
    except (CellTimeoutError, DeadKernelError) as error:
        raise NotebookError(f"running the notebook failed: {error}", str(path)) from None
    return export_result(node.cells[-1])


def _execute_with_progress(client: Any, node: Any, env: dict[str, str]) -> None:
    from tqdm.auto import tqdm

    with client.setup_kernel(env=env):
        for index, cell in enumerate(tqdm(node.cells, desc="running notebook", unit="cell")):
            client.execute_cell(cell, index)


def heavy_imports(node: Any) -> set[str]:
    """The notebook's imports that take seconds to load (what the parity process can import early)."""
    from ..notebook.annotations import python_source
    from .parity import HEAVY_MODULES
    from .requirements import imported_modules

    sources = [python_source(cell.source) for cell in node.cells if cell.cell_type == "code"]
    return imported_modules(sources) & set(HEAVY_MODULES)


def _failing_cell(node: Any) -> str:
    cells = [cell for cell in node.cells if not cell.get("metadata", {}).get(INJECTED)]
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index + 1}" + (f" (id {cell.id})" if cell.get("id") else "")
    return "a cell"


def export_result(cell: Any) -> ExportResult:
    """What the export cell (``export_cell``) printed: the result, or the error raised again here."""
    payload = cell_json_line(cell, RESULT_MARKER)
    if payload is None:
        raise NotebookError("the notebook ran but the export cell printed no result")
    if "error" in payload:
        raise rebuild_error(payload)  # the kernel's error: its class, fields and HTTP status
    return ExportResult.model_validate(payload["result"])
