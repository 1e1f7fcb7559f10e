"""Files a ``load`` cell reads, shipped into the version: ``%%deploy load --artifact weights.safetensors``.

Each path is relative to the notebook's directory and is copied to ``artifacts/files/`` under the same
relative path; the generated predictor runs the load cell in that directory, so the cell's own
``open("weights.safetensors")`` or ``torch.load(...)`` lines work unchanged at serve time.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from ..exceptions import CaptureError
from ..records import Deployment

FILES_DIR = "files"


def shipped_paths(deployment: Deployment) -> list[str]:
    """The ``--artifact`` paths of the deployment's load cell, in the order given."""
    return [path for cell in deployment.role("load") for path in cell.options.get("artifact", [])]


def ship_files(paths: list[str], notebook_dir: Path, artifacts_dir: Path) -> list[str]:
    """Copy each path (a file or a directory) into ``artifacts/files/``; returns the relative paths."""
    copied = []
    for text in paths:
        relative = PurePosixPath(text.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise CaptureError(
                f"--artifact {text!r}: give a path relative to the notebook's directory, inside it "
                "(copy the file beside the notebook first)",
                "artifact",
            )
        source = notebook_dir / relative
        if not source.exists():
            raise CaptureError(
                f"--artifact {text!r}: no such file in {notebook_dir.name or '.'}/ (the load cell's file must "
                "exist when you export)",
                "artifact",
            )
        target = artifacts_dir / FILES_DIR / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
        copied.append(relative.as_posix())
    return copied
