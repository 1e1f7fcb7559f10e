"""``.pt2``: a ``torch.export`` program, as a module on the serving device."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load(path: Path, device: Any = None) -> Any:
    import torch

    module = torch.export.load(str(path)).module()
    return module.to(device) if device is not None else module
