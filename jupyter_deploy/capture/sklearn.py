"""scikit-learn estimators and pipelines through skops, with the trusted types written into the predictor.

Policy (reviewed): a type may be trusted when it comes from scikit-learn, numpy, scipy or Python's own
builtins/collections, or when the notebook defines it in source (a custom estimator, a function given
to ``FunctionTransformer``): the predictor then carries its definition. Anything else (another library's
estimator inside a pipeline, a lambda) is refused with the list of types and what to do, or, with
``--allow-pickle``, saved with pickle. The complete list of types the file holds is written into
``predictor.py`` (``trusted=[...]``, one per line) and the loader accepts nothing outside it.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from .base import CaptureContext, Saved, loaded

SCHEMA = "schema.json"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
TRUSTED_MODULES = ("sklearn", "numpy", "scipy", "builtins", "collections")
NOTEBOOK_MODULE = "__main__"
SERVING_MODULES = frozenset({"sklearn", "skops", "numpy", "scipy"})


def accepts(value: Any) -> bool:
    sklearn = loaded("sklearn")
    return sklearn is not None and isinstance(value, sklearn.base.BaseEstimator)


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    import skops.io

    from ..runtime.loaders.sklearn import types_in

    filename = f"{name}.skops"
    path = context.directory / filename
    try:
        skops.io.dump(value, path)
        reproducible(path)
        types = types_in(path)
    except Exception as error:  # skops raises many types for objects it cannot serialise
        path.unlink(missing_ok=True)
        return _refuse(name, value, context, f"skops cannot save it ({type(error).__name__}: {error})")
    refused = [kind for kind in types if not _trustable(kind)]
    if refused:
        path.unlink()
        return _refuse(
            name,
            value,
            context,
            f"it holds types from outside scikit-learn, numpy and scipy that the notebook does not define: "
            f"{', '.join(refused)}",
        )
    notebook = {kind.split(".")[1] for kind in types if kind.startswith(NOTEBOOK_MODULE + ".")}
    arguments = {"trusted": trusted_literal(types)}
    if notebook:
        arguments["namespace"] = "globals()"
    return Saved(filename, arguments=arguments, modules=SERVING_MODULES, needs=frozenset(notebook))


def reproducible(path: Path) -> None:
    """Rewrite a skops file so that its bytes depend on the model only: skops names objects and array files by
    ``id()`` (a memory address) and ``uuid4``, and zip entries carry the time they were written. Ids and file names
    become 1, 2, ... in the schema's order (the loader only matches them with each other) and every entry gets
    the same timestamp."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info), info.compress_type) for info in archive.infolist()]
    contents = {name: data for name, data, _ in entries}
    schema = json.loads(contents[SCHEMA])
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                renumber(item)
        elif isinstance(node, dict):
            for key, item in node.items():
                if key == "__id__" and isinstance(item, int) and not isinstance(item, bool):
                    node[key] = ids.setdefault(item, len(ids) + 1)
                elif key == "file" and isinstance(item, str) and item in contents and item != SCHEMA:
                    node[key] = files.setdefault(item, f"{len(files) + 1}{PurePosixPath(item).suffix}")
                else:
                    renumber(item)

    renumber(schema)
    if set(files) != set(contents) - {SCHEMA}:  # an entry the schema does not name: keep the names as they are
        files = {name: name for name in contents}
    contents[SCHEMA] = json.dumps(schema, indent=2).encode()
    temporary = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for name, _, compression in entries:
            new_name = SCHEMA if name == SCHEMA else files[name]
            info = zipfile.ZipInfo(new_name, date_time=ZIP_TIME)
            info.compress_type = compression
            info.create_system = 3  # Unix, whichever system exports
            info.external_attr = 0o644 << 16
            archive.writestr(info, contents[name])
    os.replace(temporary, path)


def trusted_literal(types: list[str]) -> str:
    """The list as Python source, one type per line (readable in a review)."""
    return "[\n" + "".join(f"    {json.dumps(kind)},\n" for kind in types) + "]"


def _trustable(kind: str) -> bool:
    module, _, qualname = kind.rpartition(".")
    top = module.split(".")[0]
    if kind.startswith(NOTEBOOK_MODULE + "."):
        # a notebook definition: the predictor defines it from source (export checks that it is in source)
        return "<" not in kind
    if top in ("builtins", "collections"):
        return _is_class(module, qualname)  # their data types (dict, OrderedDict), never eval or open
    return top in TRUSTED_MODULES and bool(qualname)


def _is_class(module: str, qualname: str) -> bool:
    import importlib

    try:
        return isinstance(getattr(importlib.import_module(module), qualname), type)
    except (ImportError, AttributeError):
        return False


def _refuse(name: str, value: Any, context: CaptureContext, reason: str) -> Saved:
    from .pickled import or_refuse

    return or_refuse(
        name,
        value,
        context,
        f"{name!r} ({type(value).__name__}) cannot be saved with skops: {reason}. Define those in the notebook "
        f"(a named function or class in a cell), build {name} in a 'load' cell (%%deploy load), or pass "
        "--allow-pickle if you trust whoever will load this version",
    )
