"""The fallback for torch modules ``torch.export`` cannot trace: the ``state_dict`` in safetensors.

The predictor rebuilds the module from its class (``torch_build`` finds the constructor call) and loads
the weights strictly (``runtime/loaders/torch_module.py``). Tensors shared between names (tied weights)
are saved once, as ``safetensors.torch.save_model`` does; the rebuilt module ties them again itself.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from ..exceptions import CaptureError
from .base import CaptureContext, Saved
from .torch_build import NotRebuildable, find_builder


class NotCopyable(Exception):
    """The module could not be copied to the CPU (its attributes refuse ``deepcopy``)."""


def on_cpu(module: Any) -> Any:
    """The module itself when it already lives on the CPU, else a CPU copy (the notebook's stays where it is)."""
    tensors = [*module.parameters(), *module.buffers()]
    if all(tensor.device.type == "cpu" for tensor in tensors):
        return module
    try:
        return copy.deepcopy(module).cpu()
    except Exception as error:  # deepcopy raises whatever the module's attributes raise
        raise NotCopyable(f"it cannot be copied to the CPU ({type(error).__name__}: {error})") from None


def save(name: str, module: Any, context: CaptureContext, reason: str) -> Saved:
    """``reason``: why ``torch.export`` was not used (said in the message when this fails too)."""
    from safetensors.torch import save_model

    filename = f"{name}.state.safetensors"
    try:
        builder = find_builder(name, module, context)
        # contiguous CPU tensors, shared ones once
        save_model(on_cpu(module), str(context.directory / filename), force_contiguous=True)
    except Exception as error:  # NotRebuildable, the copy to the CPU or the save failing
        (context.directory / filename).unlink(missing_ok=True)
        raise CaptureError(_refusal(name, module, reason, error), name) from None
    print(
        f"jupyter-deploy: {name!r} is saved as its state_dict ({reason}); the predictor rebuilds it with "
        f"{builder.call}",
        file=sys.stderr,
    )
    return Saved(
        filename,
        arguments={"build": builder.source},
        modules=frozenset({"torch", "safetensors"}) | builder.modules,
        needs=builder.needs,
    )


def _refusal(name: str, module: Any, reason: str, error: Exception) -> str:
    why = str(error) if isinstance(error, NotRebuildable) else f"{type(error).__name__}: {error}"
    return (
        f"{name!r} ({type(module).__name__}) cannot be captured: {reason}, and its state_dict cannot be restored "
        f"because jupyter-deploy cannot rebuild a {type(module).__name__} ({why}). Build {name} in a 'load' cell "
        f"(%%deploy load) that creates it and loads its weights (ship them with %%deploy load --artifact "
        "weights.safetensors), create it with plain-valued arguments, or pass --allow-pickle if you trust "
        "whoever will load this version"
    )
