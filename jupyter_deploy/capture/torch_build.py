"""How to rebuild a torch module from its class: the constructor call that created it, found in the notebook.

The call is looked for in the statement that bound the module's name, then in the kernel's input history,
latest first (``model = train(model)`` binds the name, ``model = Net(4, 8).to(device)`` built it). Its
arguments must be literals, or expressions of names whose current values are plain (JSON-like) values;
they are written into the predictor as literals. A call is only used when the module it builds (on the
``meta`` device: no memory, no weights) has exactly the captured module's state_dict keys and shapes.
"""

from __future__ import annotations

import ast
import inspect
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..notebook.closure import VALUE_NODES
from .base import CaptureContext

# expression nodes an argument may use: values and arithmetic, never calls
_ARGUMENT_NODES = (ast.Expression, *VALUE_NODES, ast.Subscript, ast.Slice)
MAX_ARGUMENT_CHARS = 2_000
_LOCAL_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


@dataclass(frozen=True)
class Builder:
    """``lambda: <call>`` for the predictor, and what that call needs there."""

    call: str
    needs: frozenset[str]
    modules: frozenset[str]

    @property
    def source(self) -> str:
        return f"lambda: {self.call}"


class NotRebuildable(Exception):
    """Why no constructor call could rebuild the module (the message says it to the user)."""


def find_builder(name: str, module: Any, context: CaptureContext) -> Builder:
    cls = type(module)
    reference, needs, modules = class_reference(cls, context.namespace)
    expected = _layout(module.state_dict())
    reasons: list[str] = []
    tried: set[str] = set()
    for call in _constructor_calls(name, cls, context):
        try:
            args, kwargs, text = _arguments(call, context.namespace)
        except NotRebuildable as error:
            reasons.append(str(error))
            continue
        if text in tried:
            continue
        tried.add(text)
        problem = _mismatch(cls, args, kwargs, expected)
        if problem is None:
            return Builder(f"{reference}({text})", needs, modules)
        reasons.append(f"{cls.__name__}({text}) {problem}")
    if "" not in tried and _callable_without_arguments(cls):
        problem = _mismatch(cls, (), {}, expected)
        if problem is None:
            return Builder(f"{reference}()", needs, modules)
        reasons.append(f"{cls.__name__}() {problem}")
    if not reasons:
        reasons.append(f"no call {cls.__name__}(...) that created it was found in the notebook")
    raise NotRebuildable("; ".join(reasons[:3]))


def class_reference(cls: type, namespace: dict[str, Any]) -> tuple[str, frozenset[str], frozenset[str]]:
    """Source text naming ``cls`` in the predictor, the notebook names it needs, the modules it imports."""
    qualname, module = cls.__qualname__, cls.__module__
    if "<locals>" in qualname:
        raise NotRebuildable(f"its class {qualname} is defined inside a function, so the predictor cannot name it")
    root = qualname.split(".")[0]
    if module == "__main__":
        if _resolve_qualname(namespace.get(root), qualname) is not cls:
            raise NotRebuildable(
                f"its class {qualname} was defined again after it was created: run the cell that creates it again"
            )
        return qualname, frozenset({root}), frozenset()
    top = module.split(".")[0]
    if namespace.get(root) is _resolve(module, root):
        # the notebook imports the class (or its outer class): the predictor copies that import
        return qualname, frozenset({root}), frozenset({top})
    return f"__import__({module!r}, fromlist=[{root!r}]).{qualname}", frozenset(), frozenset({top})


def _resolve_qualname(value: Any, qualname: str) -> Any:
    for part in qualname.split(".")[1:]:
        value = getattr(value, part, None)
    return value


def _resolve(module: str, attribute: str) -> Any:
    import sys

    return getattr(sys.modules.get(module), attribute, None)


def _constructor_calls(name: str, cls: type, context: CaptureContext) -> list[ast.Call]:
    sources: list[ast.AST] = []
    binding = context.bindings.get(name)
    if binding is not None:
        sources.append(binding.node)
    history = context.namespace.get("In")
    if isinstance(history, list):
        for text in reversed(history):
            try:
                sources.append(ast.parse(text))
            except (SyntaxError, ValueError, TypeError):
                continue
    return [
        node
        for tree in sources
        for node in _top_level_nodes(tree)
        if isinstance(node, ast.Call) and _names(node.func, cls, context.namespace)
    ]


def _top_level_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Nodes that run at cell level: not inside functions, classes or comprehensions (their names are local)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _LOCAL_SCOPES) or node is tree:
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _names(expression: ast.expr, cls: type, namespace: dict[str, Any]) -> bool:
    """``expression`` (``Net``, ``models.Net``) is the class in the kernel's namespace."""
    parts: list[str] = []
    while isinstance(expression, ast.Attribute):
        parts.append(expression.attr)
        expression = expression.value
    if not isinstance(expression, ast.Name) or expression.id not in namespace:
        return False
    value = namespace[expression.id]
    for part in reversed(parts):
        try:
            value = inspect.getattr_static(value, part)
        except AttributeError:
            return False
    return value is cls


def _arguments(call: ast.Call, namespace: dict[str, Any]) -> tuple[tuple, dict[str, Any], str]:
    args, kwargs, texts = [], {}, []
    for node in call.args:
        if isinstance(node, ast.Starred):
            raise NotRebuildable(f"the call {ast.unparse(call)} unpacks *{ast.unparse(node.value)}")
        value = _plain_value(node, namespace)
        args.append(value)
        texts.append(repr(value))
    for keyword in call.keywords:
        if keyword.arg is None:
            raise NotRebuildable(f"the call {ast.unparse(call)} unpacks **{ast.unparse(keyword.value)}")
        value = _plain_value(keyword.value, namespace)
        kwargs[keyword.arg] = value
        texts.append(f"{keyword.arg}={value!r}")
    text = ", ".join(texts)
    if len(text) > MAX_ARGUMENT_CHARS:
        raise NotRebuildable(f"the arguments of {ast.unparse(call.func)}(...) are too long to write into code")
    return tuple(args), kwargs, text


def _plain_value(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The argument's value now, when it is built from literals and plain values without calling anything."""
    expression = ast.Expression(node)
    source = ast.unparse(node)
    if not all(isinstance(child, _ARGUMENT_NODES) for child in ast.walk(expression)):
        raise NotRebuildable(f"the argument {source!r} is computed by a call, not a plain value")
    names = {child.id for child in ast.walk(expression) if isinstance(child, ast.Name)}
    missing = sorted(names - set(namespace))
    if missing:
        raise NotRebuildable(f"the argument {source!r} uses {missing[0]!r}, which the kernel no longer defines")
    try:
        value = eval(compile(expression, "<argument>", "eval"), {"__builtins__": {}}, {n: namespace[n] for n in names})
    except Exception as error:  # whatever evaluating the user's expression raises
        raise NotRebuildable(f"the argument {source!r} cannot be evaluated ({type(error).__name__})") from None
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, int)):
        value = int(value)  # a numpy integer: written as the plain number it is
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, int, float)):
        value = float(value)
    if not _is_plain(value):
        raise NotRebuildable(f"the argument {source!r} is a {type(value).__name__}, not a plain value")
    return value


def _is_plain(value: Any, depth: int = 0) -> bool:
    if depth > 10:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return type(value) in (list, tuple) and all(_is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(_is_plain(key, depth + 1) and _is_plain(item, depth + 1) for key, item in value.items())
    return False


def _callable_without_arguments(cls: type) -> bool:
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    return all(
        parameter.default is not parameter.empty or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        for parameter in signature.parameters.values()
    )


def _layout(state: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {key: (tuple(tensor.shape), str(tensor.dtype)) for key, tensor in state.items()}


def _mismatch(cls: type, args: tuple, kwargs: dict[str, Any], expected: dict) -> str | None:
    """None when ``cls(*args, **kwargs)`` has the captured module's state_dict layout, else what differs."""
    import torch

    built, failure = None, "cannot be built"
    with torch.random.fork_rng(devices=[]):  # building must not move the notebook's random state
        for device in ("meta", "cpu"):  # meta: no memory, no work; some constructors need real tensors
            try:
                with torch.device(device):
                    built = cls(*args, **kwargs)
                break
            except Exception as error:  # the user's constructor can raise anything
                failure = f"raises {type(error).__name__}: {str(error).strip()[:120]}"
    if built is None:
        return failure
    layout = _layout(built.state_dict())
    if layout == expected:
        return None
    differing = sorted(set(layout) ^ set(expected)) or sorted(k for k in layout if layout[k] != expected[k])
    return f"builds a module whose state_dict differs at {differing[0]!r}"
