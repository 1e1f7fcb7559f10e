"""A ``.pt2`` archive is checked before ``torch.export.load`` sees it: nothing in it may run code at load.

A version's artifact is a binary nobody reviews, and ``torch.export.load`` (torch 2.13) runs code from the
archive in five places: it unpickles with ``weights_only=False`` every weight or tensor constant its
config marks ``use_pickle``, its custom-object and opaque constants (``custom_obj_*``, ``opaque_obj_*``)
and, when the safe loader fails on them, the sample inputs and legacy ``.pt`` state files; it loads
AOTInductor's compiled libraries (``data/aotinductor/``); it falls back to an older zip layout of pickles
when the archive does not load; it hands each symbolic size (``expr_str``) to ``sympy.sympify``, which
evaluates Python; and ``.module()`` compiles the program's ``guards_code`` into Python.

``check_archive`` refuses with one line (``ArtifactRefused``) an archive that holds any entry outside the
layout ``torch.export.save`` writes, a payload marked ``use_pickle`` or not a tensor, sample inputs the
safe (``weights_only``) loader cannot read, a symbolic expression that is not a plain ``srepr`` of sympy
numbers, symbols and arithmetic, or a guard that is not a comparison of input sizes. It reads the archive
with torch's own reader (and checks that Python's zip reader lists the same entries, so the fallback sees
nothing else). ``load_program`` then loads it with ``torch.load`` forced to its safe loader, in case any
pickle is left that the check did not name.
"""

from __future__ import annotations

import ast
import json
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .refusal import ArtifactRefused

FIXED_ENTRIES = frozenset({"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"})
MODEL = re.compile(r"models/([A-Za-z0-9_.-]+)\.json")
EXTRA_DIR = "extra/"
WEIGHTS_DIR, CONSTANTS_DIR = "data/weights/", "data/constants/"
WEIGHTS_CONFIG, CONSTANTS_CONFIG = "data/weights/{}_weights_config.json", "data/constants/{}_constants_config.json"
SAMPLE_INPUTS = "data/sample_inputs/{}.pt"
PAYLOAD_NAME = re.compile(r"[A-Za-z0-9_]+")
TENSOR_CONSTANT_PREFIX = "tensor_"
PLAIN_TEXT = re.compile(r"[ !$-\[\]-~]*")  # printable ASCII without '"', '#' or a backslash
MAX_JSON_DEPTH = 200  # a program's JSON nests a few dozen levels; a deeper one is refused, not recursed into

# sympy's srepr of what torch.export writes for a symbolic size: numbers, symbols and these operations
SYMPY_CALLS = frozenset(
    {
        "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs", "floor",
        "ceiling", "Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan",
        "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "Piecewise", "ExprCondPair",
        # torch.utils._sympy.functions, as torch's deserializer names them
        "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
        "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
        "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal",
        "ToFloat", "Identity",
    }
)  # fmt: skip
SYMPY_STRING_ARGUMENT = {"Symbol": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"), "Float": re.compile(r"-?[0-9.eE+-]+")}
# what torch's guard printer writes: sizes of the inputs (L['x'].size()[0]), arithmetic and comparisons
GUARD_METHODS = frozenset({"size", "stride", "storage_offset", "dim", "numel"})
GUARD_CALLS = frozenset({"abs", "max", "min", "round", "int", "float", "bool"})
GUARD_TORCH = frozenset({"sym_float", "sym_int", "sym_max", "sym_min", "sym_not", "sym_ite", "sym_sum", "_sym_sqrt"})
GUARD_NAMES = frozenset({"L", "math", "torch", "inf", "IsNonOverlappingAndDenseIndicator"})
SAFE_EXPRESSION_NODES = (
    ast.Expression, ast.Load, ast.Constant, ast.Name, ast.Call, ast.keyword, ast.Tuple, ast.UnaryOp, ast.BinOp,
    ast.BoolOp, ast.Compare, ast.unaryop, ast.operator, ast.boolop, ast.cmpop, ast.Subscript, ast.Attribute,
)  # fmt: skip


def load_program(path: Path) -> Any:
    """The ``ExportedProgram`` in ``path``, after ``check_archive``; ``torch.load`` stays on its safe loader."""
    import torch

    check_archive(path)
    with _weights_only_loads():
        return torch.export.load(str(path))


def check_archive(path: Path) -> None:
    """Raise ``ArtifactRefused`` naming the first entry of ``path`` that would run code when loaded."""
    from torch.export.pt2_archive import PT2ArchiveReader

    name = path.name
    try:
        reader = PT2ArchiveReader(str(path))
        entries = reader.get_file_names()
    except (RuntimeError, AssertionError, OSError, UnicodeDecodeError):
        raise ArtifactRefused(
            f"{name} is not a torch.export archive (torch.export.save writes one); re-export the notebook"
        ) from None
    _check_same_listing(path, entries)
    models = [match[1] for entry in entries if (match := MODEL.fullmatch(entry))]
    if not models:
        raise ArtifactRefused(f"{name} holds no exported program (no models/NAME.json); re-export the notebook")
    expected = set(FIXED_ENTRIES)
    for model in models:
        expected |= {f"models/{model}.json", WEIGHTS_CONFIG.format(model), CONSTANTS_CONFIG.format(model)}
        expected.add(SAMPLE_INPUTS.format(model))
        expected |= _payloads(reader, name, WEIGHTS_CONFIG.format(model), WEIGHTS_DIR, "weight")
        expected |= _payloads(reader, name, CONSTANTS_CONFIG.format(model), CONSTANTS_DIR, "constant")
        _check_sample_inputs(reader, name, SAMPLE_INPUTS.format(model))
        _check_program(_read_json(reader, name, f"models/{model}.json"), name, model)
    for entry in entries:
        if entry not in expected and not entry.startswith(EXTRA_DIR):
            raise ArtifactRefused(f"{name}: {entry} {_why_not(entry)}; re-export the notebook")


def _why_not(entry: str) -> str:
    if entry.startswith("data/aotinductor/"):
        return "is AOTInductor compiled code, which loading would run"
    if entry.endswith((".pt", ".pkl")):
        return "is a pickle, which loading would unpickle"
    return "is not part of what torch.export.save writes"


def _check_same_listing(path: Path, entries: list[str]) -> None:
    """torch falls back to reading the file with Python's zip reader: both readers must see the same entries."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        names = []
    roots = {item.split("/", 1)[0] for item in names}
    stripped = [item.split("/", 1)[1] for item in names if "/" in item]
    if len(roots) != 1 or len(stripped) != len(names) or sorted(stripped) != sorted(entries):
        raise ArtifactRefused(f"{path.name}: its zip listing is not one torch.export archive; re-export the notebook")


def _read_json(reader: Any, name: str, entry: str) -> Any:
    try:
        value = json.loads(reader.read_bytes(entry))
    except (RuntimeError, ValueError, RecursionError):
        raise ArtifactRefused(f"{name}: {entry} is missing or not JSON; re-export the notebook") from None
    _check_depth(value, name, entry)
    return value


def _check_depth(value: Any, name: str, entry: str) -> None:
    pending = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ArtifactRefused(f"{name}: {entry} nests deeper than {MAX_JSON_DEPTH} levels; re-export the notebook")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        pending.extend((child, depth + 1) for child in children)


def _payloads(reader: Any, name: str, config_entry: str, directory: str, kind: str) -> set[str]:
    """The entries a weights or constants config points at, each a raw tensor (never a pickle)."""
    config = _read_json(reader, name, config_entry)
    items = config.get("config") if isinstance(config, dict) else None
    if not isinstance(items, dict):
        raise ArtifactRefused(f"{name}: {config_entry} is not a payload config; re-export the notebook")
    found = set()
    for fqn, meta in items.items():
        path_name = meta.get("path_name") if isinstance(meta, dict) else None
        if not isinstance(path_name, str) or not PAYLOAD_NAME.fullmatch(path_name):
            raise ArtifactRefused(f"{name}: the {kind} {fqn!r} has no plain payload name; re-export the notebook")
        if meta.get("use_pickle") is not False or not isinstance(meta.get("tensor_meta"), dict):
            raise ArtifactRefused(
                f"{name}: the {kind} {fqn!r} ({directory}{path_name}) is stored as a pickle, which loading would "
                "unpickle (jupyter-deploy loads no pickle from a .pt2); re-export the notebook"
            )
        if kind == "constant" and not path_name.startswith(TENSOR_CONSTANT_PREFIX):
            raise ArtifactRefused(
                f"{name}: the constant {fqn!r} ({directory}{path_name}) is an object, not a tensor, which loading "
                "would unpickle; re-export the notebook"
            )
        found.add(directory + path_name)
    return found


def _check_sample_inputs(reader: Any, name: str, entry: str) -> None:
    """Sample inputs are always a pickle: torch reads them with the safe loader first, then with the unsafe one."""
    import io

    import torch

    try:
        data = reader.read_bytes(entry)
    except RuntimeError:
        raise ArtifactRefused(f"{name}: {entry} is missing; re-export the notebook") from None
    if not data:
        return
    try:
        torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception:
        raise ArtifactRefused(
            f"{name}: {entry} (the sample inputs) holds objects that only pickle's unsafe loader reads; "
            "re-export the notebook"
        ) from None


def _check_program(program: Any, name: str, model: str) -> None:
    """Every symbolic expression and guard in the program's JSON is data, not code."""
    guards = program.get("guards_code") if isinstance(program, dict) else None
    for guard in guards or []:
        if not isinstance(guard, str) or not _safe_guard(guard):
            raise ArtifactRefused(
                f"{name}: models/{model}.json holds a guard that is not a check of input sizes ({str(guard)[:80]!r}), "
                "which loading would run as Python; re-export the notebook"
            )
    for text in _expression_strings(program):
        if not _safe_sympy(text):
            raise ArtifactRefused(
                f"{name}: models/{model}.json holds a symbolic size that is not a sympy expression ({text[:80]!r}), "
                "which loading would evaluate as Python; re-export the notebook"
            )


def _expression_strings(program: Any) -> Iterator[str]:
    pending = [program]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr_str":
                    yield value if isinstance(value, str) else repr(value)
                else:
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)


def _parse(text: str) -> ast.Expression | None:
    """The expression's tree when it is plain printable text made of the nodes above, else None.

    Guards are pasted into generated source: a quote, a backslash, a comment or a line break could end the
    expression early, so none is allowed."""
    if not PLAIN_TEXT.fullmatch(text):
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tree if all(isinstance(node, SAFE_EXPRESSION_NODES) for node in ast.walk(tree)) else None


def _safe_sympy(text: str) -> bool:
    """``srepr`` output only: known constructors called on numbers, symbol names and each other.

    A string argument is parsed as code again by sympy: only a symbol's name or a float's digits are allowed."""
    tree = _parse(text)
    if tree is None:
        return False
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Subscript, ast.Attribute, ast.Compare, ast.BoolOp, ast.BinOp)):
            return False
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            return False
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in SYMPY_CALLS:
                return False
            if any(keyword.arg is None or not _is_number(keyword.value) for keyword in node.keywords):
                return False
            first = node.args[0] if node.args else None
            pattern = SYMPY_STRING_ARGUMENT.get(node.func.id)
            if (
                pattern
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and pattern.fullmatch(first.value)
            ):
                names.add(id(first))
    strings = [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return all(id(node) in names for node in strings)


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float))


def _safe_guard(text: str) -> bool:
    """What torch's guard printer writes: ``L['x'].size()[0] <= 8``, arithmetic, ``math.floor(...)``."""
    tree = _parse(text)
    if tree is None:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in GUARD_NAMES | GUARD_CALLS:
            return False
        if isinstance(node, ast.Constant) and not isinstance(node.value, (bool, int, float, str)):
            return False
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant):
            return False
        if isinstance(node, ast.Attribute) and not _safe_guard_attribute(node):
            return False
        if isinstance(node, ast.Call) and not _safe_guard_call(node):
            return False
    return True


def _safe_guard_attribute(node: ast.Attribute) -> bool:
    if isinstance(node.value, ast.Name) and node.value.id == "math":
        return not node.attr.startswith("_")
    if isinstance(node.value, ast.Name) and node.value.id == "torch":
        return node.attr in GUARD_TORCH
    return node.attr in GUARD_METHODS  # a tensor's size(), stride()...: checked as a call below


def _safe_guard_call(node: ast.Call) -> bool:
    if node.keywords:
        return False
    function = node.func
    if isinstance(function, ast.Name):
        return function.id in GUARD_CALLS or function.id == "IsNonOverlappingAndDenseIndicator"
    if not isinstance(function, ast.Attribute):
        return False
    if isinstance(function.value, ast.Name) and function.value.id in ("math", "torch"):
        return True  # the attribute itself is checked by _safe_guard_attribute
    # a method of an input: L['x'].size(), L['x'][0].stride(1)
    return function.attr in GUARD_METHODS and _is_input(function.value) and all(map(_is_number, node.args))


def _is_input(node: ast.AST) -> bool:
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "L"


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Every ``torch.load`` in here uses the safe loader, whatever its caller asks for (torch's own switch)."""
    saved = {key: os.environ.get(key) for key in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
