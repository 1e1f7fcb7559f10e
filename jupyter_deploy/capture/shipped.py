"""Files a ``load`` cell reads, shipped into the version: ``%%deploy load --artifact weights.safetensors``.

Each path is relative to the notebook's directory and is copied to ``artifacts/files/`` under the same
relative path; the generated predictor runs the load cell in that directory, so the cell's own
``open("weights.safetensors")`` or ``torch.load(...)`` lines work unchanged at serve time.

What is shipped stays inside the notebook's directory. A symbolic link (the path given, a directory on the
way to it, or one inside a shipped directory) is followed only when its target is inside the notebook's
directory too, and then the file or directory it points to is copied (a ``latest -> v3.bin`` link works).
A link that leaves the directory (a cloned repository's ``key -> ~/.ssh/id_rsa``), a link loop or a
directory that links back into itself, a FIFO, a device or a socket, and the project's ``deployments/``
(the versions themselves) are refused with one line naming the path, before anything is copied.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..exceptions import CaptureError
from ..records import Deployment

FILES_DIR = "files"
SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def shipped_paths(deployment: Deployment) -> list[str]:
    """The ``--artifact`` paths of the deployment's load cell, in the order given."""
    return [path for cell in deployment.role("load") for path in cell.options.get("artifact", [])]


@dataclass
class _Plan:
    """What one ``--artifact`` copies: directories to make and (real source, relative target) files."""

    text: str
    base: Path
    fenced: list[Path]
    directories: list[PurePosixPath] = field(default_factory=list)
    files: list[tuple[Path, PurePosixPath]] = field(default_factory=list)


def ship_files(
    paths: list[str], notebook_dir: Path, artifacts_dir: Path, versions_dir: Path | None = None
) -> list[str]:
    """Copy each path (a file or a directory) into ``artifacts/files/``; returns the relative paths.

    ``versions_dir`` (the project's ``deployments/``) and ``artifacts_dir`` are never shipped, nor is anything
    inside or holding them. Every path is checked before the first file is copied."""
    base = notebook_dir.resolve()
    fenced = [path.resolve() for path in (versions_dir, artifacts_dir) if path is not None]
    plans = [_plan(text, _relative(text, notebook_dir), base, fenced) for text in paths]
    target_dir = artifacts_dir / FILES_DIR
    for plan in plans:
        for directory in plan.directories:
            (target_dir / directory).mkdir(parents=True, exist_ok=True)
        for source, relative in plan.files:
            (target_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            _copy_file(plan.text, source, target_dir / relative)
    return [_relative(text, notebook_dir).as_posix() for text in paths]


def _refuse(text: str, message: str) -> CaptureError:
    return CaptureError(f"--artifact {text!r}: {message}", "artifact")


def _relative(text: str, notebook_dir: Path) -> PurePosixPath:
    relative = PurePosixPath(text.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise _refuse(
            text,
            "give a path relative to the notebook's directory, inside it (copy the file beside the notebook first)",
        )
    return relative


def _plan(text: str, relative: PurePosixPath, base: Path, fenced: list[Path]) -> _Plan:
    plan = _Plan(text, base, fenced)
    pending = [(_follow(plan, base / relative, relative), relative, frozenset[tuple[int, int]]())]
    while pending:
        real, target, ancestors = pending.pop()
        _check_fenced(plan, real, target)
        try:
            status = real.stat()  # real has no link left in it: this is the entry itself
            children = sorted(os.listdir(real)) if stat.S_ISDIR(status.st_mode) else []
        except OSError as error:
            raise _refuse(text, f"{target} cannot be read ({error.strerror})") from None
        if stat.S_ISDIR(status.st_mode):
            key = (status.st_dev, status.st_ino)
            if key in ancestors:
                raise _refuse(text, f"{target} links back into a directory that contains it (a loop): remove the link")
            plan.directories.append(target)
            for child in children:
                pending.append((_follow(plan, real / child, target / child), target / child, ancestors | {key}))
        elif stat.S_ISREG(status.st_mode):
            plan.files.append((real, target))
        else:
            kind = next((name for test, name in SPECIAL_KINDS if test(status.st_mode)), "not a regular file")
            raise _refuse(text, f"{target} is {kind}, not a file: ship regular files and directories only")
    return plan


def _follow(plan: _Plan, path: Path, target: PurePosixPath) -> Path:
    """``path`` with every link resolved, refused unless it exists inside the notebook's directory."""
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _refuse(plan.text, f"{target} is a symbolic link loop: remove the link") from None
        if os.path.islink(path) or any(os.path.islink(parent) for parent in _parents_within(path, plan.base)):
            raise _refuse(plan.text, f"{target} is a link to nothing ({error.strerror}): remove the link") from None
        raise _refuse(
            plan.text,
            f"no such file in {plan.base.name or '.'}/ (the load cell's file must exist when you export)",
        ) from None
    if not real.is_relative_to(plan.base):
        raise _refuse(
            plan.text,
            f"{target} is a symbolic link to outside the notebook's directory: copy the file into the directory "
            "instead of linking to it",
        )
    return real


def _parents_within(path: Path, base: Path) -> list[Path]:
    return [parent for parent in path.parents if parent.is_relative_to(base) and parent != base]


def _check_fenced(plan: _Plan, real: Path, target: PurePosixPath) -> None:
    """The project's versions are never shipped: not deployments/ itself, nothing in it, nothing holding it."""
    for fence in plan.fenced:
        if real.is_relative_to(fence) or fence.is_relative_to(real):
            raise _refuse(
                plan.text,
                f"{target} is or holds the project's deployments/ (the versions jupyter-deploy writes): "
                "ship the files the load cell reads",
            )


def _copy_file(text: str, source: Path, target: Path) -> None:
    """Copy ``source`` as planned: opened without following a link, and still a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(source, flags)
    except OSError as error:
        raise _refuse(text, f"{source.name} changed while it was being copied ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as reader:
        status = os.fstat(reader.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise _refuse(text, f"{source.name} changed while it was being copied (no longer a file)")
        with open(target, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
    os.chmod(target, stat.S_IMODE(status.st_mode))
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
