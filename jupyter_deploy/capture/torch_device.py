"""A device the notebook chose for the machine it ran on is chosen again on the machine that serves the version.

``device = "cuda" if torch.cuda.is_available() else "cpu"`` (or ``"mps"``, ``torch.device(...)``,
``torch.accelerator.current_accelerator()``, a helper function...) is a question about the machine: its value in
the kernel is the training machine's answer, and a GPU-trained notebook's ``x.to(device)`` would fail every
request on a CPU pod. Such a name is saved as ``NAME.device.json``, which holds no device at all, only the form
the notebook used (a ``str`` or a ``torch.device``); ``runtime/loaders/device.py`` gives it the serving device,
the one the runtime put every module and tensor on (``runtime.model.pick_device``).

Why the serving device, and not the notebook's expression copied into the predictor: the expression may call
anything (a helper, a config), and even the tutorial's own line picks ``mps`` on a Mac where the runtime serves on
the CPU; the serving device is, by construction, where the modules are.

Which names: a captured ``torch.device``, or a captured string that names a device (``cpu``, ``cuda``, ``cuda:1``,
``mps``...) when the name or the statement that computed it speaks of devices (``device``, ``cuda``, ``mps``,
``gpu``, ``accelerator``...): a label that happens to read ``"cpu"`` stays a string. A device written with
literals only (``torch.device("cuda:0")``) is the author's fixed choice, not a question: it is kept, and a
serving machine without it stops at start-up with one line (as a literal ``DEVICE = "cuda"`` copied into the
predictor does: ``runtime/loaders/device.py``).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from ..runtime.loaders.device import DEVICE_TEXT
from .base import CaptureContext, Saved, loaded

SPEAKS_OF_DEVICES = re.compile(r"device|cuda|mps|xpu|gpu|accelerator|is_available", re.IGNORECASE)
SUFFIX = ".device.json"


def accepts(name: str, value: Any, context: CaptureContext) -> bool:
    torch = loaded("torch")
    if torch is None:
        return False
    if isinstance(value, torch.device):
        return True
    if not isinstance(value, str) or not DEVICE_TEXT.fullmatch(value) or not _parses(torch, value):
        return False
    binding = context.bindings.get(name)
    return bool(SPEAKS_OF_DEVICES.search(name) or (binding is not None and SPEAKS_OF_DEVICES.search(binding.text)))


def _parses(torch: Any, value: str) -> bool:
    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        return False
    return True


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    form = "str" if isinstance(value, str) else "torch.device"
    record: dict[str, Any] = {"form": form}
    if _fixed(context.bindings.get(name)):
        record["fixed"] = str(value)
    filename = f"{name}{SUFFIX}"
    (context.directory / filename).write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    return Saved(filename, modules=frozenset({"torch"}))


def _fixed(binding: Any) -> bool:
    """``torch.device("cuda:0")``: the assignment's value is a device call with literal arguments only."""
    value = getattr(getattr(binding, "node", None), "value", None)
    if not isinstance(value, ast.Call) or any(keyword.arg is None for keyword in value.keywords):
        return False
    callee = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", None)
    arguments = [*value.args, *(keyword.value for keyword in value.keywords)]
    return callee == "device" and bool(arguments) and all(isinstance(item, ast.Constant) for item in arguments)
