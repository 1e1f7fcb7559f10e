"""The explicit escape hatch (``--allow-pickle``): anything picklable, with a warning.

Classes defined in the notebook (module ``__main__`` in the kernel) are recorded so the predictor
defines them before unpickling; its loader resolves ``__main__`` to the predictor module itself.
"""

from __future__ import annotations

import pickle
import pickletools
import sys
from typing import Any

from ..exceptions import CaptureError
from .base import CaptureContext, Saved, top_module

# protocol 3 names every global with a GLOBAL opcode ("module name"), which ``_notebook_classes`` reads
PROTOCOL = 3


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    try:
        data = pickle.dumps(value, protocol=PROTOCOL)
    except Exception as error:  # pickle raises many types for objects it cannot save
        raise CaptureError(f"{name!r} cannot be pickled either: {type(error).__name__}: {error}", name) from None
    print(
        f"jupyter-deploy: WARNING: {name!r} is saved with pickle (--allow-pickle). Loading this version runs "
        "code from the file: only serve versions from people you trust.",
        file=sys.stderr,
    )
    filename = f"{name}.pkl"
    (context.directory / filename).write_bytes(data)
    globals_ = _globals(data)
    modules = {module.split(".")[0] for module, _ in globals_ if module != "__main__"}
    modules.discard("builtins")
    return Saved(
        filename,
        arguments={"allow_pickle": "True", "namespace": "globals()"},
        modules=frozenset(modules | {top_module(type(value))} - {"__main__", "builtins"}),
        needs=frozenset(qualname.split(".")[0] for module, qualname in globals_ if module == "__main__"),
    )


def or_refuse(name: str, value: Any, context: CaptureContext, message: str) -> Saved:
    """The one fallback every kind shares: pickle when the user passed --allow-pickle, else refuse with
    ``message`` (which says what to do instead)."""
    if context.allow_pickle:
        return save(name, value, context)
    raise CaptureError(message, name)


def _globals(data: bytes) -> set[tuple[str, str]]:
    found = set()
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name == "GLOBAL" and isinstance(argument, str):
            module, _, qualname = argument.partition(" ")
            found.add((module, qualname))
    return found
