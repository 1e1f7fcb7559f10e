"""torch modules through ``torch.export``, with the inputs they really receive when predict runs.

The inputs are caught by a forward pre-hook while export runs ``predict`` on ``example_input``; the batch
dimension is left dynamic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import CaptureError
from .base import CaptureContext, Saved, loaded


def accepts(value: Any) -> bool:
    torch = loaded("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


@contextmanager
def recording_module_inputs(modules: dict[str, Any]) -> Iterator[dict[str, tuple[tuple, dict]]]:
    """Record the first (args, kwargs) each torch module is called with inside the block."""
    seen: dict[str, tuple[tuple, dict]] = {}
    handles = []
    for name, module in modules.items():

        def hook(_module: Any, args: tuple, kwargs: dict, name: str = name) -> None:
            seen.setdefault(name, (args, kwargs))

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def save(name: str, module: Any, context: CaptureContext) -> Saved:
    import torch

    inputs = context.module_inputs.get(name)
    if inputs is None:
        raise CaptureError(
            f"{name!r} is a torch module that predict() never called on example_input, so it cannot be "
            f"exported; add a 'load' cell that builds {name} and loads its weights",
            name,
        )
    args, kwargs = _batchable(inputs[0]), {key: _batchable_value(item) for key, item in inputs[1].items()}
    dynamic = _dynamic_shapes(args, kwargs)
    filename = f"{name}.pt2"
    try:
        program = torch.export.export(module, args, kwargs=kwargs or None, dynamic_shapes=dynamic)
        torch.export.save(program, str(context.directory / filename))
    except Exception as error:  # torch.export raises many types; all mean "not exportable"
        if context.allow_pickle:
            from . import pickled

            return pickled.save(name, module, context)
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise CaptureError(
            f"torch.export could not export {name!r} ({reason}). Add a 'load' cell that builds {name} and "
            f"loads its weights (save them with safetensors), or pass --allow-pickle",
            name,
        ) from None
    return Saved(filename, modules=frozenset({"torch"}))


def _batchable(args: tuple) -> tuple:
    return tuple(_batchable_value(item) for item in args)


def _batchable_value(value: Any) -> Any:
    """A batch of one would make torch.export specialise the batch dimension to 1: trace with two."""
    torch = loaded("torch")
    if torch is not None and isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == 1:
        return torch.cat([value, value])
    return value


def _dynamic_shapes(args: tuple, kwargs: dict) -> Any:
    import torch

    def spec(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return {0: torch.export.Dim.AUTO}
        return None

    if kwargs:
        return {"args": tuple(spec(a) for a in args), **{k: spec(v) for k, v in kwargs.items()}}
    return tuple(spec(a) for a in args)
