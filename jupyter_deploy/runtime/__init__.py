"""What generated predictors import at serve time: the model base class and the server entry point.

The names load on first use: export and retraining use ``runtime.spec`` inside a kernel, and importing
kserve there (about 2 s) for nothing would be paid on every ``%deploy export``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .artifacts import load_artifact
    from .model import NotebookModel
    from .server import serve_main

_LAZY = {"NotebookModel": ".model", "serve_main": ".server", "load_artifact": ".artifacts"}

# run as ``python predictor.py``: the version's files are hashed from now on, in a thread, while the predictor
# imports torch and kserve; ``serve_main`` waits for the result before ``load()`` reads any artifact. (Only
# then is ``verify`` imported here: ``python -m _jd_runtime.verify`` must find it not yet imported.)
if os.path.basename(getattr(sys.modules.get("__main__"), "__file__", None) or "") == "predictor.py":
    from .verify import start_if_main

    start_if_main(Path(__file__).resolve().parent.parent)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        with _command_line_hidden():
            return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextmanager
def _command_line_hidden() -> Iterator[None]:
    """``import kserve`` parses ``sys.argv`` with KServe's own parser (``kserve.model_server``, at import time),
    which would refuse a bad value in its own multi-line words, or act on flags before ours are read: the
    predictor's command line is read once, by ``server.build_parser`` (KServe's flags and ours), which hands
    the result to KServe (``server.serve_main``)."""
    if "kserve.model_server" in sys.modules:
        yield
        return
    argv = sys.argv
    sys.argv = argv[:1]
    try:
        yield
    finally:
        sys.argv = argv


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run a block in ``path`` (the load cell's shipped files) and come back, even when it raises."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def artifacts_dir(predictor_file: str) -> Path:
    """The ``artifacts/`` directory beside a generated ``predictor.py``."""
    return Path(predictor_file).resolve().parent / "artifacts"


__all__ = ["NotebookModel", "artifacts_dir", "load_artifact", "serve_main", "working_directory"]
