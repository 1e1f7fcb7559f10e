"""torch tensors as safetensors, numpy arrays as ``.npy`` (never with pickle)."""

from __future__ import annotations

from typing import Any

from .base import CaptureContext, Saved, loaded


def accepts(value: Any) -> bool:
    torch, numpy = loaded("torch"), loaded("numpy")
    if torch is not None and isinstance(value, torch.Tensor):
        return True
    if numpy is None or not isinstance(value, numpy.ndarray):
        return False
    # an object array of strings (class labels from a pandas column) is saved as a text array
    return value.dtype != object or all(isinstance(item, str) for item in value.flat)


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    torch = loaded("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        from safetensors.torch import save_file

        filename = f"{name}.safetensors"
        # a CPU copy: a version exported on a GPU machine must load on one without
        save_file({"tensor": value.detach().cpu().contiguous()}, str(context.directory / filename))
        return Saved(filename, modules=frozenset({"torch", "safetensors"}))
    import numpy

    filename = f"{name}.npy"
    numpy.save(context.directory / filename, value.astype(str) if value.dtype == object else value, allow_pickle=False)
    return Saved(filename, modules=frozenset({"numpy"}))
