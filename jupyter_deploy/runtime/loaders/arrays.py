"""``.npy`` numpy arrays and ``.safetensors`` tensors (key ``tensor``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_npy(path: Path, device: Any = None) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def load_tensor(path: Path, device: Any = None) -> Any:
    from safetensors.torch import load_file

    # safetensors takes a device name ("cpu", "cuda:0"), not a torch.device
    return load_file(str(path), device=str(device) if device is not None else "cpu")["tensor"]
