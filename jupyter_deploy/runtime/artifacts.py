"""Loading captured artifacts at serve time. The file suffix says the format; pickle only when exported so.

The writing side is ``jupyter_deploy.artifacts``; the two agree on these suffixes:
``.pt2`` torch.export program, ``.safetensors`` a tensor (key ``tensor``), ``.npy`` a numpy array,
``.json`` a plain value, ``.pkl`` a pickle (only with ``--allow-pickle``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_artifact(path: str | Path, allow_pickle: bool = False, device: str | None = None) -> Any:
    """The object saved at ``path``; modules and tensors are moved to ``device`` when given."""
    path = Path(path)
    suffix = path.suffix
    if suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device=device or "cpu")["tensor"]
    if suffix == ".pt2":
        import torch

        module = torch.export.load(str(path)).module()
        return module.to(device) if device else module
    if suffix == ".pkl":
        if not allow_pickle:
            raise RuntimeError(f"{path.name} is a pickle and this version was not exported with --allow-pickle")
        import pickle

        with path.open("rb") as stream:
            return pickle.load(stream)  # the user asked for it at export time
    raise ValueError(f"unknown artifact format: {path.name}")
