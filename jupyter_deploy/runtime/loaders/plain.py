"""``.json``: a plain value; one-key objects ``__tuple__``, ``__set__`` and ``__dict__`` (a dict whose keys
are not all strings) are turned back into those types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load(path: Path, device: Any = None) -> Any:
    return decode(json.loads(path.read_text(encoding="utf-8")))


def decode(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(item) for item in data]
    if isinstance(data, dict):
        if len(data) == 1:
            tag, items = next(iter(data.items()))
            if tag == "__tuple__":
                return tuple(decode(item) for item in items)
            if tag == "__set__":
                return {decode(item) for item in items}
            if tag == "__dict__":
                return {decode(key): decode(item) for key, item in items}
        return {key: decode(item) for key, item in data.items()}
    return data
