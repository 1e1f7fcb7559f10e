"""Export: annotated cells -> a new (or the same, unchanged) version under ``deployments/NAME/``.

Three entry points share one writer: ``export_notebook`` (a saved notebook, no kernel),
``export_live`` (inside a kernel, capturing live objects) and ``--execute`` (``execute.py``: run the
saved notebook in a fresh kernel, then ``export_live`` there).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..exceptions import CaptureError, ClosureError, ParityError
from ..notebook.annotations import find_deployments, select_deployment, suggest_name
from ..notebook.closure import Closure, build_closure
from ..notebook.read import Cell, NotebookSource, read_notebook
from ..records import Deployment, ExportResult, FileChecksum, Parity, TensorSpec, VersionInfo
from . import store

# names that live cells bind in every IPython kernel and never belong in a predictor
KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "display", "_", "__", "___"})


@dataclass
class ExportRequest:
    """Everything one export needs, whichever front door it came through."""

    root: Path
    source: NotebookSource
    name: str | None = None
    notebook: str | None = None
    history: bool = False
    namespace: dict[str, Any] | None = None
    allow_pickle: bool = False
    requirements: list[str] = field(default_factory=list)
    mlflow_run_id: str | None = None
    parity: bool = True
    make_current: bool = True
    default_name: str | None = None
    """what unnamed cells are called when ``notebook`` is unknown (a kernel's history: its Jupyter session)"""
    reference: str | None = None
    """``--reference VAR``: the kernel variable (training features) the reference profile describes"""
    own_values: Callable[[Deployment, dict[str, Deployment], dict[str, Cell]], dict[str, Any]] | None = None
    """in a kernel: the role variables (example_input, predict, reference_input...) as the exported deployment's own
    cells bound them (``jupyter.bindings``), read instead of the kernel's, which may be another deployment's"""


def default_name(notebook: str | None) -> str:
    return suggest_name(Path(notebook).stem) if notebook else "model"


def export_notebook(
    path: str | Path,
    root: str | Path = ".",
    name: str | None = None,
    allow_pickle: bool = False,
    requirements: list[str] | None = None,
    parity: bool = True,
) -> ExportResult:
    """Export a saved notebook without a kernel: everything must be defined in source."""
    source = read_notebook(path)
    request = ExportRequest(
        root=Path(root),
        source=source,
        name=name,
        notebook=_relative(path, root),
        allow_pickle=allow_pickle,
        requirements=list(requirements or []),
        parity=parity,
    )
    return export(request)


def export(request: ExportRequest) -> ExportResult:
    where = request.notebook or "the kernel's history"
    unnamed = request.default_name or default_name(request.notebook)
    deployments = find_deployments(request.source, unnamed, latest_wins=request.history)
    deployment = select_deployment(deployments, request.name, where)
    if request.namespace is not None and request.own_values is not None:
        cells = {cell.id: cell for cell in request.source.cells}
        own = request.own_values(deployment, deployments, cells)
        request = replace(request, namespace={**request.namespace, **own})
    if request.make_current and manifests_configured(request.root, deployment.name):
        _check_manifest_options(request.root, deployment)  # before anything is written
    closure = build_closure(request.source, deployment, history=request.history, live=request.namespace is not None)
    live = {name: binding for name, binding in closure.live.items() if name not in KERNEL_NAMES}
    if request.namespace is None:
        _refuse_live(live, closure, request)
        return _write(request, deployment, closure, captured={}, example=None)
    return _write_live(request, deployment, closure, live)


def _check_manifest_options(root: Path, deployment: Deployment) -> None:
    from ..cluster.options import manifest_options
    from ..project import resolve_options
    from .predictor import deployment_options

    manifest_options(deployment.name, resolve_options(root, deployment.name, recorded=deployment_options(deployment)))


def _promote(request: ExportRequest, result: ExportResult) -> None:
    """Manifests (when ``deploy.yaml`` names the deployment), then ``CURRENT``: a version neither points at is
    removed if they fail, so a failed export changes nothing."""
    if not request.make_current:
        return
    root, info = request.root, result.info
    if manifests_configured(root, info.name):
        from ..cluster.manifests import write_manifests

        try:
            result.manifests = write_manifests(root, f"{info.name}@{info.version}")["directory"]
        except BaseException:
            if result.created:
                shutil.rmtree(result.path, ignore_errors=True)
            raise
    store.set_current(root, info.name, info.version)


def manifests_configured(root: Path, name: str) -> bool:
    """``deploy.yaml`` names the deployment: its manifests follow each export automatically."""
    from ..project import read_project_file

    return name in read_project_file(root).get("deployments", {})


def _refuse_live(live: dict, closure: Closure, request: ExportRequest) -> None:
    if not live:
        return
    name, binding = sorted(live.items())[0]
    user = closure.needed_by.get(name)
    used_in = user.cell.label if user else "an annotated cell"
    if binding is None:
        raise ClosureError(f"{name!r} is used in {used_in} but defined nowhere in the notebook", name=name)
    raise ClosureError(
        f"{name!r} (used in {used_in}) is computed by {binding.cell.label} "
        f"({binding.text.splitlines()[0][:60]!r}), not defined in source. Export with --execute so a kernel "
        f"runs the notebook and captures it, or build it in a 'load' cell (%%deploy load)",
        name=name,
        cell=binding.cell.id,
    )


def _write_live(request: ExportRequest, deployment: Deployment, closure: Closure, live: dict) -> ExportResult:
    from ..capture.torch_module import accepts as is_torch_module
    from ..capture.torch_module import recording_module_inputs
    from .pipeline import pipeline_roles, run_steps

    namespace = request.namespace or {}
    missing = sorted(name for name in live if name not in namespace)
    if missing:
        user = closure.needed_by.get(missing[0])
        raise ClosureError(
            f"{missing[0]!r} is used in {user.cell.label if user else 'an annotated cell'} but is not defined "
            "in the kernel: run the cell that defines it first",
            name=missing[0],
        )
    if "example_input" not in namespace:
        raise ClosureError(
            "example_input is not defined in the kernel: add a cell '%%deploy example' that sets "
            "example_input = ... and run it",
            name="example_input",
        )
    example = namespace["example_input"]
    modules = {name: namespace[name] for name in live if is_torch_module(namespace[name])}
    with recording_module_inputs(modules) as module_inputs:
        reference = run_steps([namespace[role] for role in pipeline_roles(deployment)], example)
    captured = {"values": {name: namespace[name] for name in live}, "inputs": module_inputs}
    return _write(request, deployment, closure, captured=captured, example=(example, reference))


def _write(
    request: ExportRequest,
    deployment: Deployment,
    closure: Closure,
    captured: dict[str, Any],
    example: tuple[Any, Any] | None,
) -> ExportResult:
    from ..capture import CaptureContext, capture
    from ..capture.shipped import ship_files, shipped_paths
    from ..runtime import verify
    from ..runtime.spec import spec_of, with_free_dims
    from .batchcheck import check_batching
    from .predictor import deployment_options, render_predictor, write_runtime
    from .reference import example_script, run_reference
    from .requirements import check_local_imports, check_requirement, imported_modules, pin

    root, name = request.root, deployment.name
    statements = closure.definitions + closure.load + closure.example
    check_local_imports(imported_modules([statement.text for statement in statements]), _notebook_dir(request))
    for extra in request.requirements:
        check_requirement(extra)
    with store.locked(root, name), store.staging(root, name) as stage:
        context = CaptureContext(
            directory=stage / "artifacts",
            module_inputs=captured.get("inputs") or {},
            allow_pickle=request.allow_pickle,
            bindings=dict(closure.live),
            namespace=request.namespace or {},
        )
        saved = {
            variable: capture(variable, value, context)
            for variable, value in sorted(captured.get("values", {}).items())
        }
        example_saved, spec = None, None
        if example is not None:
            examples = replace(context, allow_pickle=False)
            example_saved = capture("example_input", example[0], examples)
            capture("example_output", example[1], examples)
            # -1 also where the torch modules that receive example_input as it is take any size (sequence length)
            spec = with_free_dims(spec_of(example[0]), [dims for item in saved.values() for dims in item.inputs])
        elif deployment.role("example"):
            example_saved, spec = run_reference(
                example_script(deployment, closure), context.directory, _notebook_dir(request)
            )
        from ..monitor.profile import write_reference_profile  # artifacts/reference_profile.json, in the hash

        write_reference_profile(context.directory, deployment, example, request.namespace, request.reference)
        closure = _with_needs(request, deployment, closure, saved)
        shipped = ship_files(
            shipped_paths(deployment), _notebook_dir(request), context.directory, store.deployments_dir(root)
        )
        # what serving imports: the notebook code's imports and what loading each captured object needs
        statements = closure.definitions + closure.load + closure.example
        modules = imported_modules([statement.text for statement in statements])
        modules = modules.union(*(item.modules for item in saved.values()))
        if example_saved is not None:
            modules |= example_saved.modules
        text = render_predictor(
            deployment,
            closure,
            saved,
            example_saved.filename if example_saved else None,
            spec,
            shipped_files=bool(shipped),
            uses_torch="torch" in modules,
        )
        (stage / "predictor.py").write_text(text, encoding="utf-8")
        write_runtime(stage)
        pins = pin(modules, request.requirements)
        (stage / "requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
        files = {variable: item.filename for variable, item in saved.items()}

        records = verify.record_files(stage)
        digest = verify.content_hash(records)
        existing = store.find_by_hash(root, name, digest)
        if existing is not None:
            path = store.version_path(root, name, existing.version)
            store.check_intact(path)  # "unchanged, same as v1" only if v1 on disk still is what was exported
            result = ExportResult(info=existing, path=str(path), created=False)
            _promote(request, result)
            return result

        parity = _parity(stage, deployment, live=example is not None) if request.parity else None
        if parity is not None and parity.status == "failed":
            raise ParityError(f"parity check failed for {name!r}: {parity.detail}")
        check_batching(stage, deployment_options(deployment))
        parent = store.current_version(root, name)
        info = VersionInfo(
            name=name,
            version="v0",
            content_hash=digest,
            parent=parent,
            created=store.now_iso(),
            notebook=request.notebook,
            cell_ids=closure.cell_ids,
            options=deployment_options(deployment),
            input_spec=TensorSpec(**spec) if spec else None,
            artifacts=files,
            allow_pickle=any(f.endswith(".pkl") for f in files.values()),
            requirements=pins,
            mlflow_run_id=request.mlflow_run_id,
            parity=parity,
            checksums={relative: FileChecksum(**entry) for relative, entry in records.items()},
        )
        path = store.commit(root, name, stage, info)
        changed = store.changed_files(store.version_path(root, name, parent), path) if parent else []
        result = ExportResult(info=info, path=str(path), created=True, changed_files=changed)
        _promote(request, result)
    return result


STATIC_PARITY = (
    "no kernel: the module reproduced the notebook's code re-run in a fresh process, which is no independent "
    "reference; export with --execute (or %deploy export in the notebook) to compare with what the notebook computed"
)


def _parity(stage: Path, deployment: Deployment, live: bool) -> Parity:
    """A live export compares with what the kernel computed; a static one only checks that the module runs and
    agrees with its own code (a failure there is real), and says that this is no parity check."""
    from .parity import run_parity

    if not deployment.role("example"):
        return Parity(status="skipped", detail="no example cell: add '%%deploy example' to check parity")
    try:
        result = run_parity(stage)
    finally:
        shutil.rmtree(stage / "__pycache__", ignore_errors=True)
    if live or result.status != "passed":
        return result
    return result.model_copy(update={"status": "skipped", "detail": STATIC_PARITY})


def _with_needs(request: ExportRequest, deployment: Deployment, closure: Closure, saved: dict) -> Closure:
    """The closure again, with the notebook classes that loading a captured object needs (a module's class)."""
    needs = set().union(*(item.needs for item in saved.values())) if saved else set()
    defined = {name for statement in closure.definitions for name in statement.defines}
    if not needs - defined:
        return closure
    extended = build_closure(request.source, deployment, history=request.history, live=True, extra=needs)
    undefined = sorted(set(extended.live) - set(closure.live) - KERNEL_NAMES)
    if undefined:
        raise CaptureError(
            f"loading the captured objects needs {undefined[0]!r}, which the notebook computes instead of defining "
            "it in source (a class statement or an import): define it in a cell, or build the object in a 'load' "
            "cell",
            undefined[0],
        )
    return extended


def _notebook_dir(request: ExportRequest) -> Path:
    """Where a load cell's relative paths point: the notebook's directory, else the project root."""
    if request.source.path:
        return Path(request.source.path).resolve().parent
    return Path(request.root).resolve()


def _relative(path: str | Path, root: str | Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path(root).resolve())).as_posix()
    except ValueError:
        return str(path)
