"""lightgbm objects (being written: accepts nothing yet)."""

from __future__ import annotations

from typing import Any

from .base import CaptureContext, Saved


def accepts(value: Any) -> bool:
    return False


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    raise NotImplementedError
