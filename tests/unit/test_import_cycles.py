"""No module of the package imports, directly or through others, a module that imports it back.

Every ``import`` counts, at module level, inside functions and under ``TYPE_CHECKING``: a cycle through a
function-level import is a layering knot even when it does not fail at import time. The one exception is
the package's entry points in ``jupyter_deploy/__init__.py`` (``load_ipython_extension``,
``_jupyter_server_extension_points``): IPython and Jupyter call them from outside, nothing in the package
does, and they import the front doors that way on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupyter_deploy

PACKAGE = Path(jupyter_deploy.__file__).parent
ENTRY_POINTS = {"load_ipython_extension", "_jupyter_server_extension_points"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The package's modules that ``node`` imports (``from X import y`` is ``X.y`` when that is a module)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
        targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]
    found = set()
    for target in targets:
        while target and target not in modules:  # ``import a.b.c`` of a name inside a module: that module
            target = target.rpartition(".")[0]
        if target and target != module:
            found.add(target)
    return found


def entry_point_nodes(tree: ast.Module) -> set[int]:
    inside = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ENTRY_POINTS:
            inside.update(id(child) for child in ast.walk(node))
    return inside


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = entry_point_nodes(tree) if module == "jupyter_deploy" else set()
        graph[module] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
                graph[module] |= imported(module, path, node, set(paths))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_checker_finds_a_cycle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("import os\n\ndef later():\n    from . import sibling\n")
    nodes = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = {"pkg", "pkg.mod", "pkg.sibling"}
    assert set().union(*(imported("pkg.mod", Path("mod.py"), node, modules) for node in nodes)) == {"pkg.sibling"}


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "jupyter_deploy.jupyter.server.handlers" in graph["jupyter_deploy.jupyter.server.app"]
    assert cycles(graph) == []


FRONT_DOORS = ("jupyter_deploy.cli", "jupyter_deploy.jupyter")
# the stages of the data path: what the front doors call, never the other way round
STAGES = ("notebook", "capture", "versions", "runtime", "serving", "cluster", "retrain", "batch", "monitor")


def test_the_stages_never_import_a_front_door() -> None:
    """A rule lives in a stage and every front door (CLI, magics, REST, panel) calls it; a stage reaching into a
    front door would put a rule there. ``versions.execute`` drives ``%deploy export`` inside a fresh kernel
    through the code it sends, which is text, not an import."""
    graph = import_graph()
    inward = {
        module: sorted(target for target in targets if target.startswith(FRONT_DOORS))
        for module, targets in graph.items()
        if module.startswith(tuple(f"jupyter_deploy.{stage}" for stage in STAGES))
    }
    assert {module: targets for module, targets in inward.items() if targets} == {}
    assert any(target.startswith("jupyter_deploy.versions") for target in graph["jupyter_deploy.cli.export"])
