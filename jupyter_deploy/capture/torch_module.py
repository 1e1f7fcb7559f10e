"""torch modules through ``torch.export``, with the inputs they really receive when predict runs.

The inputs are caught by a forward pre-hook while export runs ``predict`` on ``example_input`` (under
``torch.inference_mode``), and copied outside inference mode: ``torch.export`` refuses inference tensors.
The program is exported from a CPU copy so that it loads anywhere; the loader moves it to the serving
device. Every dimension the module takes at any size (the batch, a sequence's length, an image's height) is
left dynamic (``torch_dims``). A module ``torch.export`` cannot trace (data-dependent control flow), or whose
program would fix a size the module itself takes at others (``nn.LSTM``'s time axis), is saved as its
``state_dict`` instead and rebuilt from its class (``torch_state``).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ..exceptions import CaptureError
from . import torch_dims, torch_state
from .base import CaptureContext, Saved, loaded


def accepts(value: Any) -> bool:
    torch = loaded("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


@contextmanager
def recording_module_inputs(modules: dict[str, Any]) -> Iterator[dict[str, tuple[tuple, dict]]]:
    """Record the first (args, kwargs) each torch module is called with inside the block (as copies)."""
    seen: dict[str, tuple[tuple, dict]] = {}
    handles = []
    for name, module in modules.items():

        def hook(_module: Any, args: tuple, kwargs: dict, name: str = name) -> None:
            if name not in seen:
                # a copy: predict may change its tensors in place after the call
                seen[name] = (portable_inputs(args), portable_inputs(kwargs))

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def portable_inputs(value: Any, device: str | None = None) -> Any:
    """``value`` with every tensor (inside tuples, lists and dicts) copied outside inference mode."""
    torch = loaded("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        with torch.inference_mode(False):
            tensor = value.detach()
            return tensor.to(device).clone() if device is not None else tensor.clone()
    if isinstance(value, (tuple, list)):
        items = [portable_inputs(item, device) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return {key: portable_inputs(item, device) for key, item in value.items()}
    return value


def save(name: str, module: Any, context: CaptureContext) -> Saved:
    inputs = context.module_inputs.get(name)
    lost = sorted(attributes_used(name, context.namespace) & attributes_export_drops(module))
    if inputs is None:
        reason = "predict() never called it on example_input, so torch.export has no inputs to trace it with"
    elif lost:
        reason = f"predict uses {name}.{lost[0]}, which a torch.export program does not keep (it keeps forward)"
    else:
        try:
            traced = _trace(module, inputs)
            if traced.narrowed is None:
                return _save_program(name, traced, context)
        except (_NotExportable, torch_state.NotCopyable) as error:
            reason = f"torch.export could not trace it: {error}"
        else:
            try:  # the eager module takes what the program would refuse
                return replace(torch_state.save(name, module, context, traced.narrowed), inputs=traced.eager_inputs)
            except CaptureError as not_rebuilt:
                try:
                    saved = _save_program(name, traced, context)
                except _NotExportable:
                    raise not_rebuilt from None
            print(
                f"jupyter-deploy: {name!r} is exported with torch.export although {traced.narrowed}: requests must "
                "have the example's size there (build it in a 'load' cell to serve it eagerly)",
                file=sys.stderr,
            )
            return saved
    try:
        return torch_state.save(name, module, context, reason)
    except CaptureError:
        if context.allow_pickle:
            from . import pickled

            return pickled.save(name, module, context)
        raise


class _NotExportable(Exception):
    pass


PIPELINE_FUNCTIONS = ("preprocess", "predict", "postprocess")


def attributes_used(name: str, namespace: dict[str, Any]) -> set[str]:
    """Attribute names read by the pipeline's code that also reads ``name`` (the notebook functions predict calls
    included): a coarse superset, from the functions' code objects."""
    used: set[str] = set()
    pending = [namespace.get(role) for role in PIPELINE_FUNCTIONS]
    seen: set[int] = set()
    while pending:
        function = pending.pop()
        if not isinstance(function, types.FunctionType) or function.__module__ != "__main__" or id(function) in seen:
            continue
        seen.add(id(function))
        for code in _code_objects(function.__code__):
            if name in code.co_names:
                used.update(code.co_names)
            # the notebook's own functions that this code calls (by global name)
            pending.extend(namespace.get(global_name) for global_name in code.co_names)
    return used


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def attributes_export_drops(module: Any) -> set[str]:
    """What the module's own classes and instance add besides forward and its submodules, parameters and buffers:
    a ``torch.export`` program has none of it (``rnn.initHidden()``, ``model.hidden_size``)."""
    dropped = {key for key in vars(module) if not key.startswith("_")} - {"training"}
    for klass in type(module).__mro__:
        if klass.__module__.split(".")[0] != "torch" and klass is not object:
            dropped.update(key for key in vars(klass) if not key.startswith("__"))
    return dropped - {"forward"}


def _trace(module: Any, inputs: tuple[tuple, dict]) -> Any:
    """The module traced on its recorded inputs (``torch_dims.Traced``), from a CPU copy."""
    cpu_module = torch_state.on_cpu(module)
    args, kwargs = portable_inputs(inputs[0], "cpu"), portable_inputs(inputs[1], "cpu")
    batched = (_batchable(args), {key: _batchable_value(item) for key, item in kwargs.items()})
    attempts = [batched]
    if any(a is not b for a, b in zip((*batched[0], *batched[1].values()), (*args, *kwargs.values()), strict=True)):
        attempts.append((args, kwargs))  # a leading 1 that was not a batch: trace as recorded
    first_error: Exception | None = None
    for attempt_args, attempt_kwargs in attempts:
        try:
            return torch_dims.trace(cpu_module, attempt_args, attempt_kwargs)
        except Exception as error:  # torch.export raises many types; all mean "not exportable"
            first_error = first_error or error
    raise _NotExportable(_first_line(first_error))


def _save_program(name: str, traced: Any, context: CaptureContext) -> Saved:
    import torch

    path = context.directory / f"{name}.pt2"
    _drop_source_locations(traced.program)
    try:
        torch.export.save(traced.program, str(path))
    except Exception as error:  # a program torch cannot serialise (an object constant): not exportable either
        path.unlink(missing_ok=True)
        raise _NotExportable(f"torch.export.save failed: {_first_line(error)}") from None
    return Saved(path.name, modules=frozenset({"torch"}), inputs=traced.inputs)


def _drop_source_locations(program: Any) -> None:
    """Node stack traces name the kernel's temporary files (``ipykernel_PID/...py``) and this machine's paths: the
    saved program keeps none, so an unchanged notebook exports to the same bytes (torch.export.save writes fixed
    zip timestamps, and a serialization id derived from the contents)."""
    import torch

    for graph_module in program.graph_module.modules():
        if isinstance(graph_module, torch.fx.GraphModule):
            for node in graph_module.graph.nodes:
                node.meta.pop("stack_trace", None)


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0][:300] if text else type(error).__name__


def _batchable(args: tuple) -> tuple:
    return tuple(_batchable_value(item) for item in args)


def _batchable_value(value: Any) -> Any:
    """A batch of one would make torch.export specialise the batch dimension to 1: trace with two."""
    torch = loaded("torch")
    if torch is not None and isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == 1:
        return torch.cat([value, value])
    return value
