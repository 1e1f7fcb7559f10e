"""``.pt2``: a ``torch.export`` program; ``.state.safetensors``: a module rebuilt from its class and its weights.

Both are saved from the CPU, so they load on a machine without a GPU; the module is then moved to the
serving device (a program with ``move_to_device_pass``, which also moves the devices written into its graph).
A ``.pt2`` is checked first (``pt2_archive``): one that would run code at load is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def load(path: Path, device: Any = None) -> Any:
    from .pt2_archive import load_program

    program = load_program(path)
    if device is not None and str(device) != "cpu":
        from torch.export.passes import move_to_device_pass

        # not module().to(device): tensors that forward creates (torch.zeros(..., device=x.device), arange,
        # masks) keep the traced device in the graph; the pass moves them with the weights
        program = move_to_device_pass(program, str(device))
    return program.module()


def load_state_dict(path: Path, device: Any = None, build: Callable[[], Any] | None = None) -> Any:
    """``build`` (from the generated predictor, reviewed code) creates the module; the file holds its weights."""
    from safetensors.torch import load_model

    if build is None:
        raise RuntimeError(f"{path.name} holds a state_dict: the predictor must pass build= to create the module")
    module = build()
    # strict: a rebuilt module that differs from the saved one must fail at start-up, not answer wrongly
    load_model(module, str(path), strict=True, device="cpu")
    module.eval()
    return module.to(device) if device is not None else module
