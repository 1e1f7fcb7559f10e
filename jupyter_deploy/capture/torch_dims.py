"""Which dimensions of a torch module's inputs take any size: dynamic in the exported program, ``-1`` in the spec.

A text model traced on a sentence of 5 tokens must answer one of 7, an image model built around adaptive pooling
any image size, while a ``Linear``'s input width stays what it is. ``trace`` finds out, with torch's own shape
reasoning and then by trying:

1. ``torch.export`` with ``Dim.AUTO`` on every dimension (sizes 0 and 1 static: torch would fix them anyway): a
   dimension the graph needs at its traced size comes back fixed, the others as symbols.
2. A symbol is kept only when the program also runs with that size one larger. A dimension torch leaves free but
   ties to others (``flatten`` then ``Linear(784)``: ``H * W == 784``) would only fail inside the program at
   request time; those are exported again as static, so a wrong size is refused by the input spec, in one line.
3. A dimension torch fixed although the module itself runs at another size (``nn.LSTM``'s time axis: export
   unrolls its decomposition) is reported as ``narrowed``: the eager module, rebuilt from its state_dict, serves
   any length there, and ``torch_module`` prefers it when it can be rebuilt.

Trying is done on copies of the recorded inputs grown by one along the dimension (every dimension of one symbol
together), without autograd; the eager module's buffers and the random state are put back afterwards.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from .base import loaded

InputDims = tuple[tuple[int, ...], frozenset[int]]
"""one tensor input: its shape after the batch dimension, and the dimensions (of the whole shape) that are free"""


@dataclass(frozen=True)
class Traced:
    program: Any
    inputs: tuple[InputDims, ...]
    """the program's free dimensions, per tensor input (the batch dimension included)"""
    narrowed: str | None = None
    """a dimension the program fixes that the eager module takes at other sizes (said to the user)"""
    eager_inputs: tuple[InputDims, ...] = ()
    """the free dimensions when the module runs eagerly instead"""


def trace(module: Any, args: tuple, kwargs: dict) -> Traced:
    """Export ``module`` on (args, kwargs) with every dimension it accepts at any size left dynamic."""
    import torch
    import torch.utils._pytree as pytree

    leaves, structure = pytree.tree_flatten((args, kwargs))
    tensors = [index for index, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor) and leaf.dim() > 0]
    static: set[tuple[int, int]] = set()
    program = _export(module, args, kwargs, leaves, static)
    symbols = _input_symbols(program, leaves)
    if symbols is None:  # inputs torch flattened otherwise: dynamic as traced, nothing claimed beyond the batch
        return Traced(program, _batch_only(leaves, tensors))
    tied = [
        symbol
        for symbol in _non_batch_symbols(symbols)
        if not _program_runs(program, leaves, structure, symbols, symbol)
    ]
    if tied:
        static = {place for place, symbol in symbols.items() if symbol in tied}
        program = _export(module, args, kwargs, leaves, static)
        symbols = _input_symbols(program, leaves) or {}
    inputs = _free_dims(leaves, tensors, symbols)
    fixed_by_torch = _fixed_sizes(leaves, tensors, symbols, static)
    accepted = _eager_accepts(module, leaves, structure, fixed_by_torch)
    if not accepted:
        return Traced(program, inputs)
    widened = _free_dims(leaves, tensors, symbols, extra=accepted)
    index, dim = min(accepted)
    narrowed = (
        f"torch.export fixes dimension {dim} of its input at {leaves[index].shape[dim]}, which the module itself "
        "takes at other sizes"
    )
    return Traced(program, inputs, narrowed, widened)


def _export(module: Any, args: tuple, kwargs: dict, leaves: list, static: set[tuple[int, int]]) -> Any:
    import torch

    def choice(leaf: Any, index: int) -> Any:
        if leaf.dim() == 0:
            return None
        return {
            dim: torch.export.Dim.STATIC if (index, dim) in static or (dim > 0 and size <= 1) else torch.export.Dim.AUTO
            for dim, size in enumerate(leaf.shape)
        }

    positions = {id(leaf): index for index, leaf in enumerate(leaves)}
    return torch.export.export(
        module,
        args,
        kwargs=kwargs or None,
        dynamic_shapes=dynamic_shapes(module.forward, args, kwargs, lambda leaf: choice(leaf, positions[id(leaf)])),
    )


def dynamic_shapes(forward: Any, args: tuple, kwargs: dict, dims: Any) -> Any:
    """``dims(tensor)`` for every tensor input, keyed by ``forward``'s argument names (torch.export's rule)."""
    torch = loaded("torch")

    def spec(value: Any) -> Any:
        if torch is not None and isinstance(value, torch.Tensor):
            return dims(value)
        if isinstance(value, (tuple, list)):
            return type(value)(spec(item) for item in value) if not hasattr(value, "_fields") else None
        if isinstance(value, dict):
            return {key: spec(item) for key, item in value.items()}
        return None

    try:
        bound = inspect.signature(forward).bind(*args, **kwargs)
    except (TypeError, ValueError):  # no signature, or one the recorded call does not fit
        return None if kwargs else tuple(spec(item) for item in args)
    return {argument: spec(value) for argument, value in bound.arguments.items()}


def _input_symbols(program: Any, leaves: list) -> dict[tuple[int, int], str] | None:
    """(input leaf, dimension) -> the symbol torch gave its size; None when the placeholders do not line up."""
    import torch

    names = set(program.graph_signature.user_inputs)
    placeholders = [node for node in program.graph.nodes if node.op == "placeholder" and node.name in names]
    if len(placeholders) != len(leaves):
        return None
    symbols: dict[tuple[int, int], str] = {}
    for index, (leaf, node) in enumerate(zip(leaves, placeholders, strict=True)):
        value = node.meta.get("val")
        if not isinstance(leaf, torch.Tensor):
            continue
        if not isinstance(value, torch.Tensor) or value.dim() != leaf.dim():
            return None
        for dim, size in enumerate(value.shape):
            expression = size.node.expr if isinstance(size, torch.SymInt) else None
            if expression is not None and expression.is_Symbol:
                symbols[(index, dim)] = str(expression)
    return symbols


def _non_batch_symbols(symbols: dict[tuple[int, int], str]) -> list[str]:
    batch = {symbol for (_, dim), symbol in symbols.items() if dim == 0}
    return sorted({symbol for (_, dim), symbol in symbols.items() if dim > 0} - batch)


def _grown(leaves: list, structure: Any, places: set[tuple[int, int]]) -> tuple[tuple, dict]:
    """The inputs with each (leaf, dimension) in ``places`` one larger (its first slice repeated at the end)."""
    import torch
    import torch.utils._pytree as pytree

    grown = list(leaves)
    for index, dim in sorted(places):
        tensor = grown[index]
        grown[index] = torch.cat([tensor, tensor.narrow(dim, 0, 1)], dim=dim)
    args, kwargs = pytree.tree_unflatten(grown, structure)
    return args, kwargs


def _program_runs(program: Any, leaves: list, structure: Any, symbols: dict, symbol: str) -> bool:
    import torch

    if program.graph_signature.buffers_to_mutate:  # running it would change the notebook's buffers
        return False
    args, kwargs = _grown(leaves, structure, {place for place, name in symbols.items() if name == symbol})
    try:
        with torch.no_grad():
            program.module()(*args, **kwargs)
    except Exception:  # a guard, a shape error: the size is not free
        return False
    return True


def _free_dims(
    leaves: list, tensors: list[int], symbols: dict, extra: frozenset[tuple[int, int]] = frozenset()
) -> tuple[InputDims, ...]:
    return tuple(
        (
            tuple(leaves[index].shape[1:]),
            frozenset({0} | {dim for (i, dim) in (*symbols, *extra) if i == index}),
        )
        for index in tensors
    )


def _batch_only(leaves: list, tensors: list[int]) -> tuple[InputDims, ...]:
    return tuple((tuple(leaves[index].shape[1:]), frozenset({0})) for index in tensors)


def _fixed_sizes(leaves: list, tensors: list[int], symbols: dict, static: set) -> dict[int, set[tuple[int, int]]]:
    """Dimensions (after the batch) torch fixed by itself, grouped by their size (tied inputs grow together)."""
    groups: dict[int, set[tuple[int, int]]] = {}
    for index in tensors:
        for dim, size in enumerate(leaves[index].shape):
            if dim > 0 and size > 1 and (index, dim) not in symbols and (index, dim) not in static:
                groups.setdefault(int(size), set()).add((index, dim))
    return groups


def _eager_accepts(
    module: Any, leaves: list, structure: Any, groups: dict[int, set[tuple[int, int]]]
) -> frozenset[tuple[int, int]]:
    """The fixed dimensions the module itself runs with one larger (the notebook's module, state put back)."""
    import torch

    accepted: set[tuple[int, int]] = set()
    if not groups:
        return frozenset()
    saved = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            for places in groups.values():
                args, kwargs = _grown(leaves, structure, places)
                try:
                    module(*args, **kwargs)
                except Exception:  # the module's own shape check: the size is fixed
                    continue
                accepted |= places
    finally:
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                buffer.copy_(saved[name])
    return frozenset(accepted)
