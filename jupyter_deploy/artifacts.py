"""Capturing live kernel objects as artifact files, without pickle unless the user asked for it.

torch modules go through ``torch.export`` with the inputs they really receive when ``predict`` runs on
``example_input`` (caught by a forward pre-hook), with the batch dimension left dynamic; tensors are
saved as safetensors, numpy arrays as ``.npy``, small plain values as JSON. The reading side is
``jupyter_deploy.runtime.artifacts``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .exceptions import CaptureError

JSON_LIMIT_BYTES = 1_000_000


def _torch() -> Any:
    """torch if the kernel already imported it (a torch object cannot exist otherwise)."""
    return sys.modules.get("torch")


def is_torch_module(value: Any) -> bool:
    torch = _torch()
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


def capture(
    name: str,
    value: Any,
    directory: Path,
    module_inputs: dict[str, tuple[tuple, dict]] | None = None,
    allow_pickle: bool = False,
) -> str:
    """Save ``value`` under ``directory``; return the file name. Raises ``CaptureError`` if it cannot."""
    directory.mkdir(parents=True, exist_ok=True)
    torch = _torch()
    numpy = sys.modules.get("numpy")
    if torch is not None and isinstance(value, torch.nn.Module):
        inputs = (module_inputs or {}).get(name)
        if inputs is None:
            raise CaptureError(
                f"{name!r} is a torch module that predict() never called on example_input, so it cannot be "
                f"exported; add a 'load' cell that builds {name} and loads its weights",
                name,
            )
        return _export_module(name, value, inputs, directory, allow_pickle)
    if torch is not None and isinstance(value, torch.Tensor):
        from safetensors.torch import save_file

        filename = f"{name}.safetensors"
        save_file({"tensor": value.detach().cpu().contiguous()}, str(directory / filename))
        return filename
    if numpy is not None and isinstance(value, numpy.ndarray) and value.dtype != object:
        filename = f"{name}.npy"
        numpy.save(directory / filename, value, allow_pickle=False)
        return filename
    text = _plain_json(value)
    if text is not None:
        filename = f"{name}.json"
        (directory / filename).write_text(text, encoding="utf-8")
        return filename
    if allow_pickle:
        return _pickle(name, value, directory)
    raise CaptureError(
        f"{name!r} is a {type(value).__module__}.{type(value).__qualname__}, which jupyter-deploy cannot save "
        f"without pickle. Build it in a 'load' cell (%%deploy load) so the server creates it at start-up, "
        f"or pass --allow-pickle if you trust whoever will load this version",
        name,
    )


def _plain_json(value: Any) -> str | None:
    if not _is_plain(value):
        return None
    text = json.dumps(value, sort_keys=True, indent=1)
    return text + "\n" if len(text) <= JSON_LIMIT_BYTES else None


def _is_plain(value: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item, depth + 1) for key, item in value.items())
    return False


def _export_module(name: str, module: Any, inputs: tuple[tuple, dict], directory: Path, allow_pickle: bool) -> str:
    import torch

    args, kwargs = _batchable(inputs[0]), {key: _batchable_value(item) for key, item in inputs[1].items()}
    dynamic = _dynamic_shapes(args, kwargs)
    filename = f"{name}.pt2"
    try:
        program = torch.export.export(module, args, kwargs=kwargs or None, dynamic_shapes=dynamic)
        torch.export.save(program, str(directory / filename))
    except Exception as error:  # torch.export raises many types; all mean "not exportable"
        if allow_pickle:
            return _pickle(name, module, directory)
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise CaptureError(
            f"torch.export could not export {name!r} ({reason}). Add a 'load' cell that builds {name} and "
            f"loads its weights (save them with safetensors), or pass --allow-pickle",
            name,
        ) from None
    return filename


def _batchable(args: tuple) -> tuple:
    return tuple(_batchable_value(item) for item in args)


def _batchable_value(value: Any) -> Any:
    """A batch of one would make torch.export specialise the batch dimension to 1: trace with two."""
    torch = _torch()
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


def _pickle(name: str, value: Any, directory: Path) -> str:
    import pickle

    print(
        f"jupyter-deploy: WARNING: {name!r} is saved with pickle (--allow-pickle). Loading this version runs "
        "code from the file: only serve versions from people you trust.",
        file=sys.stderr,
    )
    filename = f"{name}.pkl"
    with (directory / filename).open("wb") as stream:
        pickle.dump(value, stream, protocol=4)
    return filename
