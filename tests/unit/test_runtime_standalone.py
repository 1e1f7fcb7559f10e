"""The runtime is copied into every version and runs where jupyter-deploy is not installed."""

from __future__ import annotations

import ast
from pathlib import Path

import jupyter_deploy.runtime as runtime

RUNTIME = Path(runtime.__file__).parent


def test_runtime_modules_import_nothing_of_the_tool_outside_the_runtime() -> None:
    offenders = []
    for path in sorted(RUNTIME.rglob("*.py")):
        depth = len(path.relative_to(RUNTIME).parts) - 1  # 0 for runtime/x.py, 1 for runtime/loaders/x.py
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (
                node.level > depth + 1 or (node.module or "").startswith("jupyter_deploy")
            ):
                offenders.append(f"{path.relative_to(RUNTIME)}:{node.lineno}")
            if isinstance(node, ast.Import) and any(alias.name.startswith("jupyter_deploy") for alias in node.names):
                offenders.append(f"{path.relative_to(RUNTIME)}:{node.lineno}")
    assert offenders == []
