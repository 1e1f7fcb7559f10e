"""Pinned requirements: import names in the predictor -> installed distributions -> exact versions."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

# what the runtime copied into every version imports at serve time, whatever the cells import
RUNTIME_DISTRIBUTIONS = ("kserve", "numpy", "orjson")


@lru_cache(maxsize=1)
def _distributions_by_module() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def distributions_of(module: str) -> list[str]:
    """Distributions providing ``module``: the one named like it when it has that top-level package
    (numpy, torch: a quick metadata read), else a scan of every installed distribution (sklearn)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(module)
    except PackageNotFoundError:
        return list(_distributions_by_module().get(module, []))
    top_level = dist.read_text("top_level.txt")
    record = "\n" + (dist.read_text("RECORD") or "")  # a text search: parsing RECORD of torch takes 100 ms
    if (top_level and module in top_level.split()) or f"\n{module}/" in record or f"\n{module}.py," in record:
        return [dist.metadata["Name"]]
    return list(_distributions_by_module().get(module, []))


def imported_modules(sources: Iterable[str]) -> set[str]:
    """Top-level module names imported by the given Python sources."""
    modules: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def pin(modules: Iterable[str], extras: Iterable[str] = ()) -> list[str]:
    """``name==version`` lines for the distributions providing ``modules``, plus ``extras`` as given.

    Standard-library modules and modules that belong to no installed distribution (local files) are
    left out, and so is this tool: a version carries its own runtime and serves without it.
    """
    extras = [check_requirement(extra) for extra in extras]
    lines = pin_modules(modules, RUNTIME_DISTRIBUTIONS)
    return lines + [extra for extra in extras if extra not in lines]


def check_requirement(text: str) -> str:
    """One ``--requirement`` line, as pip reads it; a line pip cannot read is refused before anything is written."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text)
    except InvalidRequirement as error:
        from ..exceptions import OptionsError

        reason = str(error).splitlines()[0]
        raise OptionsError(
            f"--requirement {text!r} is not a requirement pip can read ({reason}); write e.g. 'pandas==2.2.3'",
            "requirement",
        ) from None
    return text


def check_local_imports(modules: Iterable[str], notebook_dir: Path) -> None:
    """Refuse a module of the user's own (a file beside the notebook, no installed package provides it): the
    version could not import it where it serves on its own."""
    local = sorted(module for module in modules if _is_local_module(module, notebook_dir))
    if local:
        from ..exceptions import ClosureError

        raise ClosureError(
            f"the predictor imports {local[0]!r}, a module of your own beside the notebook (no installed package "
            "provides it), which the version could not import where it serves on its own: move its code into a "
            "notebook cell, or make it a package and install it (then it is pinned like any other)",
            name=local[0],
        )


def _is_local_module(module: str, notebook_dir: Path) -> bool:
    from importlib.machinery import PathFinder

    if module in sys.stdlib_module_names or module in ("jupyter_deploy", "_jd_runtime", "__future__"):
        return False
    if distributions_of(module):
        return False
    try:
        spec = PathFinder.find_spec(module, [str(notebook_dir), *sys.path])
    except (ImportError, ValueError):
        return False
    # not importable at all: an optional import (try/except ImportError) that fails the same way when serving
    return spec is not None and spec.origin not in (None, "built-in", "frozen")


def pin_modules(modules: Iterable[str], distributions: Iterable[str] = ()) -> list[str]:
    """Sorted ``name==version`` lines for ``distributions`` and those providing ``modules`` (not this tool)."""
    from importlib.metadata import PackageNotFoundError, version

    names: set[str] = set(distributions)
    for module in modules:
        if module in sys.stdlib_module_names or module in ("jupyter_deploy", "_jd_runtime"):
            continue
        names.update(distributions_of(module))
    pins = {}
    for name in names:
        try:
            # a local label (2.13.0+cpu) names a build, not a release: images pick their own build
            pins[name.lower()] = f"{name}=={version(name).split('+')[0]}"
        except PackageNotFoundError:
            continue
    return sorted(pins.values(), key=str.lower)
