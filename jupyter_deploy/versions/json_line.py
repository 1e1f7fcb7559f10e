"""A result handed back as one JSON line: how a fresh ``python -m`` process (the parity check, the batching
check, the reference run) or a kernel cell (``export --execute``, retrain's metrics) reports to this process.

The child prints ``MARKER{...}`` (the marker may be empty) as its last word; everything else it prints
(warnings, the notebook's own output) is ignored. A child that fails or prints no such line raises
``ChildFailed`` with its last lines of output, which each caller turns into its own clear error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


class ChildFailed(Exception):
    """A child process exited non-zero or printed no result; ``tail`` is its output (stderr, else stdout)."""

    def __init__(self, tail: list[str]) -> None:
        self.tail = tail or ["no output"]
        super().__init__(self.tail[-1])


def child_env() -> dict[str, str]:
    """This process's environment, minus writing ``__pycache__`` into the version being checked."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def read_json_line(text: str, marker: str = "") -> Any | None:
    """The last line of ``text`` that is ``marker`` followed by a JSON object, parsed (None: there is none)."""
    prefix = marker + "{"
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return json.loads(lines[-1][len(marker) :]) if lines else None


def cell_json_line(cell: Any, marker: str) -> Any | None:
    """``read_json_line`` over what a notebook cell printed (its stream outputs)."""
    return read_json_line("\n".join(output.get("text", "") for output in cell.get("outputs", [])), marker)


def child_result(returncode: int | None, stdout: str, stderr: str, marker: str = "") -> Any:
    """The JSON line of a finished child; raises ``ChildFailed`` if it failed or printed none."""
    found = read_json_line(stdout, marker) if returncode == 0 else None
    if found is None:
        raise ChildFailed((stderr or stdout).strip().splitlines())
    return found


def run_json_module(module: str, arguments: list[str], cwd: Path, timeout: float, marker: str = "") -> Any:
    """``python -m module arguments`` in a fresh process; its JSON line. Raises ``ChildFailed``, or
    ``subprocess.TimeoutExpired`` past ``timeout`` seconds (the child is killed)."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=child_env(),
        check=False,
    )
    return child_result(completed.returncode, completed.stdout, completed.stderr, marker)
