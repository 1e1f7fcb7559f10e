"""``.pkl``: only for versions exported with ``--allow-pickle`` (the user asked for it then)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from .refusal import ArtifactRefused


class _NotebookUnpickler(pickle.Unpickler):
    """Classes the notebook defined were pickled as ``__main__.X``; the predictor defines them now."""

    def __init__(self, stream: Any, namespace: dict[str, Any]) -> None:
        super().__init__(stream)
        self.namespace = namespace

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__" and name in self.namespace:
            return self.namespace[name]
        return super().find_class(module, name)


def load(path: Path, device: Any = None, allow_pickle: bool = False, namespace: dict | None = None) -> Any:
    if not allow_pickle:
        raise ArtifactRefused(f"{path.name} is a pickle and this version was not exported with --allow-pickle")
    with path.open("rb") as stream:
        return _NotebookUnpickler(stream, namespace or {}).load()
