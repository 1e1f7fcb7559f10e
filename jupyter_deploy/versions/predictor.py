"""Rendering ``predictor.py`` from a closure: the notebook's code around a ``NotebookModel`` subclass."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import Any

from .. import DISTRIBUTION, __version__
from ..capture.base import Saved
from ..notebook.closure import Closure, Statement
from ..records import Deployment
from ..render import render

SERVING_OPTIONS = ("max_batch_size", "max_latency_ms", "workers")
RUNTIME_PACKAGE = "_jd_runtime"


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-")) + "Predictor"


def pipeline_expression(deployment: Deployment) -> str:
    expression = "inputs"
    for role in ("preprocess", "predict", "postprocess"):
        if deployment.role(role):
            expression = f"{role}({expression})"
    return expression


def _import_node(statement: Statement, needed: set[str]) -> ast.Import | ast.ImportFrom:
    """An import statement keeping only the names the predictor needs (no unused imports)."""
    node = statement.node
    assert isinstance(node, (ast.Import, ast.ImportFrom))
    kept = [alias for alias in node.names if alias.name == "*" or (alias.asname or alias.name).split(".")[0] in needed]
    if isinstance(node, ast.Import):
        return ast.Import(names=kept)
    return ast.ImportFrom(module=node.module, names=kept, level=node.level)


def _member_key(alias: ast.alias) -> tuple[int, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then the rest, each case-insensitively."""
    name = alias.name
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower()


def sorted_imports(nodes: list[ast.Import | ast.ImportFrom]) -> list[str]:
    """Import lines grouped and ordered the way isort (and ruff's I rules) expect."""
    import sys

    sections: dict[int, set[tuple[int, str, str]]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = alias.name
                line = ast.unparse(ast.Import(names=[alias]))
                sections.setdefault(_section(module, sys.stdlib_module_names), set()).add((0, module.lower(), line))
        else:
            module = "." * node.level + (node.module or "")
            names = sorted(node.names, key=_member_key)
            line = ast.unparse(ast.ImportFrom(module=node.module, names=names, level=node.level))
            sections.setdefault(_section(module, sys.stdlib_module_names), set()).add((1, module.lower(), line))
    blocks = ["\n".join(line for _, _, line in sorted(lines)) for _, lines in sorted(sections.items())]
    return "\n\n".join(blocks).splitlines()


def _section(module: str, stdlib: frozenset[str]) -> int:
    top = module.split(".")[0]
    if top == "__future__":
        return 0
    if not top:
        return 3
    return 1 if top in stdlib else 2


def notebook_code(statements: list[Statement]) -> str:
    """The notebook's definitions, spaced as PEP 8 wants. Nothing names cells or their positions: the same code
    renders the same from a saved notebook and from a kernel's history, and moving cells makes no new version."""
    parts: list[str] = []
    previous: Statement | None = None
    for statement in statements:
        new_cell = previous is None or previous.cell.id != statement.cell.id
        spaced = new_cell or _is_block(statement) or (previous is not None and _is_block(previous))
        if parts:
            parts.append("\n\n\n" if spaced else "\n")
        parts.append(statement.text)
        previous = statement
    return "".join(parts)


def _is_block(statement: Statement) -> bool:
    return isinstance(statement.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _indented_lines(statements: list[Statement]) -> list[str]:
    lines: list[str] = []
    for statement in statements:
        lines.extend(textwrap.indent(statement.text, "    ", lambda _line: True).splitlines())
    return lines


def render_predictor(
    deployment: Deployment,
    closure: Closure,
    artifacts: dict[str, Saved],
    example_artifact: str | None,
    input_spec: dict[str, Any] | None,
    shipped_files: bool = False,
    uses_torch: bool = True,
) -> str:
    """The text of ``predictor.py``; version-independent so identical content hashes identically."""
    everything = closure.definitions + closure.load + closure.example
    needed = set().union(*(s.uses for s in everything)) if everything else set()
    needed |= set(artifacts)
    import_nodes: list[ast.Import | ast.ImportFrom] = [ast.Import(names=[ast.alias(RUNTIME_PACKAGE)])]
    code: list[Statement] = []
    for statement in closure.definitions:
        if isinstance(statement.node, (ast.Import, ast.ImportFrom)):
            import_nodes.append(_import_node(statement, needed))
        else:
            code.append(statement)
    load_globals = sorted(set(artifacts) | {name for s in closure.load for name in s.defines if name != "*"})
    options = {key: value for key, value in deployment_options(deployment).items() if key in SERVING_OPTIONS}
    return render(
        "predictor/predictor.py.j2",
        name=deployment.name,
        class_name=class_name(deployment.name),
        imports=sorted_imports(import_nodes),
        notebook_code=notebook_code(code),
        artifacts=[(variable, saved.filename, _load_arguments(saved)) for variable, saved in sorted(artifacts.items())],
        example_artifact=example_artifact,
        load_globals=load_globals,
        load_lines=_indented_lines(closure.load),
        shipped_files=shipped_files,
        uses_torch=uses_torch,
        example_lines=_indented_lines(closure.example),
        input_spec=input_spec,
        serving_options=dict(sorted(options.items())),
        pipeline=pipeline_expression(deployment),
        tool=f"{DISTRIBUTION} {__version__}",
    )


def write_runtime(version_dir: Path) -> None:
    """Copy the serving runtime into the version as ``_jd_runtime/``: the version then runs on its own (no
    jupyter-deploy installed) and never changes when the tool is upgraded, since the copy is in its hash."""
    import shutil

    from .. import runtime

    shutil.copytree(
        Path(runtime.__file__).parent,
        version_dir / RUNTIME_PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def _load_arguments(saved: Saved) -> list[str]:
    """``load_artifact``'s keyword arguments, one per line: what the loader trusts stays readable in review."""
    return [f"{key}={source}," for key, source in sorted(saved.arguments.items())]


def deployment_options(deployment: Deployment) -> dict[str, Any]:
    """Magic-line options of all the deployment's cells, the predict cell's winning."""
    merged: dict[str, Any] = {}
    for cell in sorted(deployment.cells, key=lambda c: c.role == "predict"):
        merged.update(cell.options)
    return merged
