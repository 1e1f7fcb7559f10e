"""``load_artifact``: the object a captured file holds, by the loader its name's suffix selects.

Suffixes are matched longest first; each maps to ``loaders.MODULE:FUNCTION``. The writing side
(``jupyter_deploy.capture``) names files by the same table.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

LOADERS: tuple[tuple[str, str], ...] = (
    (".state.safetensors", "torch_module:load_state_dict"),
    (".hf", "transformers:load"),
    (".skops", "sklearn:load"),
    (".xgb.ubj", "xgboost:load"),
    (".lgb.txt", "lightgbm:load"),
    (".frame.json", "dataframe:load"),
    (".device.json", "device:load"),
    (".pt2", "torch_module:load"),
    (".safetensors", "arrays:load_tensor"),
    (".npy", "arrays:load_npy"),
    (".json", "plain:load"),
    (".pkl", "pickled:load"),
)


def loader_for(path: Path) -> Any:
    name = path.name
    for suffix, target in LOADERS:
        if name.endswith(suffix):
            module, function = target.split(":")
            return getattr(importlib.import_module(f".loaders.{module}", __package__), function)
    raise ValueError(f"unknown artifact format: {name}")


def load_artifact(path: str | Path, device: Any = None, **options: Any) -> Any:
    """The object saved at ``path``; modules and tensors are placed on ``device`` when given.

    ``options`` come from the generated predictor (``allow_pickle``, trusted types, a class to rebuild).
    """
    path = Path(path)
    return loader_for(path)(path, device=device, **options)
