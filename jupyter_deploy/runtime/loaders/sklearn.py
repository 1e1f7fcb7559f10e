"""``.skops``: a scikit-learn estimator or pipeline, loaded only if every type in it is trusted by the code.

``trusted`` is the literal list written into the generated ``predictor.py`` at export (reviewed in Git),
never a list read from the artifact (MLflow's advisory GHSA-w582-9x45-8mpx was that mistake). Every type
the file names must be in that list, or loading stops with one line naming the others; skops then audits
the same file against the same list before it constructs anything.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .refusal import ArtifactRefused

NOTEBOOK_MODULE = "__main__"


def types_in(path: Path) -> list[str]:
    """Every ``module.Name`` the skops file's schema refers to (objects, functions, types), sorted."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError):
        raise ArtifactRefused(
            f"{path.name} is not a skops file (a zip archive holding schema.json); re-export the notebook"
        ) from None
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                found.add(f"{module}.{name}")
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return sorted(found)


def load(path: Path, device: Any = None, trusted: list[str] | None = None, namespace: dict | None = None) -> Any:
    import skops.io

    if trusted is None:
        raise ArtifactRefused(f"{path.name}: the predictor lists no trusted types; re-export the notebook")
    untrusted = [name for name in types_in(path) if name not in set(trusted)]
    if untrusted:
        raise ArtifactRefused(
            f"{path.name} holds types that predictor.py does not trust: {', '.join(untrusted)} "
            "(the file changed after export, or the list was edited); re-export the notebook"
        )
    notebook = [name.split(".", 1)[1] for name in trusted if name.startswith(NOTEBOOK_MODULE + ".")]
    with _notebook_definitions(namespace or {}, notebook):
        return skops.io.load(path, trusted=list(trusted))


@contextmanager
def _notebook_definitions(namespace: dict[str, Any], names: list[str]) -> Iterator[None]:
    """skops finds a notebook's class or function as ``__main__.NAME``; the predictor defines it, and the
    predictor is ``__main__`` only when run as a script, so lend the definitions for the load."""
    main = sys.modules[NOTEBOOK_MODULE]
    lent = [name for name in {name.split(".")[0] for name in names} if name in namespace and not hasattr(main, name)]
    for name in lent:
        setattr(main, name, namespace[name])
    try:
        yield
    finally:
        for name in lent:
            delattr(main, name)
