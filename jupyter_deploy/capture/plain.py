"""Small plain values as JSON: numbers, strings, lists, and dicts, tuples and sets of them.

JSON has only string keys and lists, so a dict with other keys (``{0: "cat"}``, a vocabulary's
``ix_to_word``), a tuple or a set is written as a one-key object naming its type (``{"__dict__": [[k, v],
...]}``); ``runtime/loaders/plain.py`` turns those back. Values that are plain JSON are written as they are.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .base import CaptureContext, Saved

JSON_LIMIT_BYTES = 1_000_000
MAX_DEPTH = 20


def accepts(value: Any) -> bool:
    try:
        return len(json.dumps(encode(value))) <= JSON_LIMIT_BYTES
    except _NotPlain:
        return False


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    filename = f"{name}.json"
    text = json.dumps(encode(value), sort_keys=True, indent=1)
    (context.directory / filename).write_text(text + "\n", encoding="utf-8")
    return Saved(filename)


class _NotPlain(Exception):
    pass


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data, tagging what JSON cannot say itself; raises ``_NotPlain`` for anything else."""
    if depth > MAX_DEPTH:
        raise _NotPlain
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _NotPlain
        return value
    if isinstance(value, list):
        return [encode(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(item, depth + 1) for item in value]}
    if isinstance(value, (set, frozenset)):
        items = [encode(item, depth + 1) for item in value]
        return {"__set__": sorted(items, key=lambda item: json.dumps(item, sort_keys=True))}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and not _looks_tagged(value):
            return {key: encode(item, depth + 1) for key, item in value.items()}
        return {"__dict__": [[encode(key, depth + 1), encode(item, depth + 1)] for key, item in value.items()]}
    raise _NotPlain


def _looks_tagged(value: dict) -> bool:
    return len(value) == 1 and next(iter(value)) in ("__tuple__", "__set__", "__dict__")
