"""Small plain values (numbers, strings, lists, dicts of them) as JSON."""

from __future__ import annotations

import json
from typing import Any

from .base import CaptureContext, Saved

JSON_LIMIT_BYTES = 1_000_000


def accepts(value: Any) -> bool:
    return _is_plain(value) and len(json.dumps(value)) <= JSON_LIMIT_BYTES


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    filename = f"{name}.json"
    text = json.dumps(value, sort_keys=True, indent=1)
    (context.directory / filename).write_text(text + "\n", encoding="utf-8")
    return Saved(filename)


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
