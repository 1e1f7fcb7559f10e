"""What every capture module receives and returns."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CaptureContext:
    """Where to write, and what export knows about the object beyond its value."""

    directory: Path
    """the version's ``artifacts/`` (staged)"""
    module_inputs: dict[str, tuple[tuple, dict]] = field(default_factory=dict)
    """for torch modules: the first (args, kwargs) each was called with while predict ran on example_input"""
    allow_pickle: bool = False
    bindings: dict[str, Any] = field(default_factory=dict)
    """name -> the closure ``Statement`` whose execution computed the value (None: defined nowhere)"""
    namespace: dict[str, Any] = field(default_factory=dict)
    """the kernel's namespace (read only)"""


@dataclass
class Saved:
    """One captured object: its file, and what ``predictor.py`` needs to load it."""

    filename: str
    """file or directory under ``artifacts/``; its suffix names the loader (``runtime/loaders``)"""
    arguments: dict[str, str] = field(default_factory=dict)
    """keyword -> Python source, passed to ``load_artifact`` in the generated code (reviewed in Git)"""
    modules: frozenset[str] = frozenset()
    """import names serving needs for this object (pinned into ``requirements.txt``)"""
    needs: frozenset[str] = frozenset()
    """notebook names (classes) that ``predictor.py`` must define before loading"""
    inputs: tuple[tuple[tuple[int, ...], frozenset[int]], ...] = ()
    """for torch modules: each tensor input's shape after the batch dimension, and which of its dimensions take any
    size (``torch_dims``): the input spec's ``-1`` where ``example_input`` is such an input"""


def type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def loaded(module: str) -> Any:
    """The module if the kernel already imported it: an object of its types cannot exist otherwise."""
    return sys.modules.get(module)


def top_module(kind: type) -> str:
    return kind.__module__.split(".")[0]
