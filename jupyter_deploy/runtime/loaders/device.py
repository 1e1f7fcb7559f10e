"""``.device.json``: a device the notebook chose for its machine, chosen again here: the serving device.

The file holds the form the notebook used (``str`` or ``torch.device``) and, for a device the notebook fixed with
literals (``torch.device("cuda:0")``), that device. A chosen device becomes the device this server put the modules
on (``load(path, device=...)``); a fixed one is kept when this machine has it, and the server stops at start-up
with one line when it does not. ``check_notebook_devices`` says the same line for a device the notebook's code
names in a literal (``DEVICE = "cuda"``), which the predictor copies as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .refusal import ArtifactRefused

DEVICE_TEXT = re.compile(r"[a-z][a-z_]*(:[0-9]+)?")
NAMES = {"cuda": "CUDA GPU", "xpu": "Intel GPU (XPU)"}


def load(path: Path, device: Any = None) -> Any:
    record = json.loads(path.read_text(encoding="utf-8"))
    fixed = record.get("fixed")
    name = path.name.removesuffix(".device.json")
    if isinstance(fixed, str):
        _require(name, fixed)
        chosen = fixed
    else:
        chosen = str(device) if device is not None else "cpu"
    if record.get("form") == "torch.device":
        import torch

        return torch.device(chosen)
    return chosen


def check_notebook_devices(namespace: dict[str, Any]) -> None:
    """Stop with one line when a module-level ``torch.device``, or a device string in a name that says so
    (``DEVICE = "cuda"``), names a device this machine does not have."""
    import torch

    for name, value in namespace.items():
        if name.startswith("_"):
            continue
        if isinstance(value, torch.device) or (
            isinstance(value, str) and "device" in name.lower() and DEVICE_TEXT.fullmatch(value) and _parses(value)
        ):
            _require(name, str(value))


def _require(name: str, text: str) -> None:
    why = absent(text)
    if why:
        raise ArtifactRefused(
            f"the notebook's {name} is {text!r}, a device this machine does not have ({why}): choose it "
            f"where the version runs, e.g. {name} = 'cuda' if torch.cuda.is_available() else 'cpu', and export again"
        )


def _parses(text: str) -> bool:
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        return False
    return True


def absent(text: str) -> str | None:
    """Why this machine has no device ``text`` (``cuda:3``, ``mps``...); None when it has it."""
    import torch

    device = torch.device(text)
    if device.type in ("cpu", "meta"):
        return None
    if device.type == "mps":
        return None if torch.backends.mps.is_available() else "torch sees no Apple GPU (MPS) here"
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.xpu...
    is_available = getattr(backend, "is_available", None)
    if not callable(is_available) or not is_available():
        return f"torch sees no {NAMES.get(device.type, device.type + ' device')} here"
    count_devices = getattr(backend, "device_count", None)
    count = count_devices() if callable(count_devices) else 1
    if device.index is not None and device.index >= count:
        plural = "s" if count != 1 else ""
        return f"it has {count} {device.type} device{plural}, {device.type}:0 to {device.type}:{count - 1}"
    return None
