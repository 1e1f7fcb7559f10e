"""Versioned predictors: ``deployments/NAME/vN/``, content-addressed, written once, never modified.

A version is staged in a temporary directory beside its final place and renamed into place, so a crash
never leaves half a version. ``deployments/NAME/CURRENT`` names the version that manifests and ``serve``
use; export moves it, a retraining run moves it only when its promotion gate passes.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, VersionIntegrityError
from ..files import write_atomic
from ..records import ExportResult, VersionInfo
from ..runtime import verify

# ASCII digits only (``\d`` takes any script's), and few enough that ``vN`` stays a short file name
VERSION_PATTERN = re.compile(r"v[0-9]{1,9}", re.ASCII)
NOT_A_VERSION = "{!r} is not a version: versions look like v1, v2, ..."
STAGING_PREFIX = ".staging-"
LOCK_FILE = ".lock"


def deployments_dir(root: str | Path) -> Path:
    return Path(root) / "deployments"


def deployment_dir(root: str | Path, name: str) -> Path:
    return deployments_dir(root) / name


def no_versions(root: str | Path, name: str) -> NotFoundError:
    """The error for a deployment without a version yet, worded once for the CLI, the magics and REST (the name
    is checked first: the hint never suggests a path)."""
    check_name_text(name)
    return NotFoundError(
        f"deployment {name!r} has no versions under {deployments_dir(root)}: export it first "
        f"(jupyter-deploy export NOTEBOOK --name {name}, or %deploy export {name} in the notebook)"
    )


def is_version(text: object) -> bool:
    return isinstance(text, str) and VERSION_PATTERN.fullmatch(text) is not None


def version_number(version: str) -> int:
    return int(check_version(version)[1:])


def list_versions(root: str | Path, name: str) -> list[VersionInfo]:
    """Every version of ``name``, oldest first (empty if the deployment has none)."""
    directory = deployment_dir(root, check_name_text(name))
    if not directory.is_dir():
        return []
    infos = []
    for child in directory.iterdir():
        if is_version(child.name) and (child / "version.json").is_file():
            infos.append(read_info(child))
    return sorted(infos, key=lambda info: version_number(info.version))


def read_info(version_dir: Path) -> VersionInfo:
    return VersionInfo.model_validate_json((version_dir / "version.json").read_text(encoding="utf-8"))


def current_version(root: str | Path, name: str) -> str | None:
    """The version ``CURRENT`` names, else the newest, else None."""
    pointer = deployment_dir(root, name) / "CURRENT"
    if pointer.is_file():
        return pointer.read_text(encoding="utf-8").strip()
    versions = list_versions(root, name)
    return versions[-1].version if versions else None


def set_current(root: str | Path, name: str, version: str) -> None:
    """Point ``CURRENT`` at ``version`` (atomically: write a temp file, then rename)."""
    version_path(root, name, version)  # raises if it does not exist
    write_atomic(deployment_dir(root, name) / "CURRENT", version + "\n")


def check_version(version: str) -> str:
    """A version is a version name (``vN``), never a path: it is joined to the deployment's directory."""
    if not is_version(version):
        raise NotFoundError(NOT_A_VERSION.format(str(version)[:80]))
    return version


def check_name_text(name: str) -> str:
    """A deployment name is a Kubernetes name, never a path: it is joined to ``deployments/``."""
    from ..notebook.annotations import check_name

    return check_name(name)


def version_path(root: str | Path, name: str, version: str) -> Path:
    check_name_text(name)
    path = deployment_dir(root, name) / check_version(version)
    if not (path / "version.json").is_file():
        known = ", ".join(info.version for info in list_versions(root, name)) or "none"
        raise NotFoundError(f"deployment {name!r} has no version {version} (versions: {known})")
    return path


def resolve(root: str | Path, spec: str) -> tuple[VersionInfo, Path]:
    """``NAME`` (its current version) or ``NAME@vN`` -> (info, directory)."""
    name, _, version = spec.partition("@")
    check_name_text(name)
    if not version:
        current = current_version(root, name)
        if current is None:
            raise no_versions(root, name)
        version = current
    path = version_path(root, name, version)
    return read_info(path), path


def content_hash(directory: Path) -> str:
    """sha256 over the relative paths and sha256s of every file but ``version.json`` (``runtime.verify``)."""
    return verify.content_hash(verify.record_files(directory))


def check_intact(version_dir: Path, artifacts: bool = True) -> None:
    """Raise ``VersionIntegrityError`` (one line naming the file) when ``version_dir`` differs from what export
    recorded. ``artifacts=False``: their sizes only, when the version's own predictor hashes them before
    ``load()`` (see ``runtime.verify.verify``)."""
    problem = verify.verify(version_dir, artifacts)
    if problem is not None:
        raise VersionIntegrityError(verify.refusal(version_dir, problem), problem.file)


def verify_versions(root: str | Path, name: str) -> list[dict[str, Any]]:
    """``versions NAME --verify``: every version checked whole, oldest first; per version ``{"version", "ok",
    "file", "message"}`` (the file that differs, and the one line that says so)."""
    results = []
    for info in list_versions(root, name):
        directory = deployment_dir(root, name) / info.version
        problem = verify.verify(directory)
        results.append(
            {
                "version": info.version,
                "ok": problem is None,
                "file": problem.file if problem else None,
                "message": verify.refusal(directory, problem) if problem else None,
            }
        )
    return results


@contextmanager
def staging(root: str | Path, name: str) -> Iterator[Path]:
    """A temporary directory beside the versions, removed unless ``commit`` renamed it into place.

    Made with ``os.mkdir`` so the version gets the user's umask (mkdtemp's 0700 would survive the rename).
    Call it under ``locked``: then any other staging directory is a killed export's, and is removed."""
    directory = deployment_dir(root, name)
    directory.mkdir(parents=True, exist_ok=True)
    stage = directory / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    stage.mkdir()
    try:
        yield stage
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def locked(root: str | Path, name: str) -> Iterator[None]:
    """One export of ``name`` at a time, across processes (``flock`` on ``deployments/NAME/.lock``).

    Whoever holds the lock owns everything temporary under ``deployments/NAME/``: what an earlier, killed export
    left there is removed on entry. On exit the lock file goes, and so does a deployment directory that this
    export created and left without a version (a failed first export leaves nothing)."""
    import fcntl

    check_name_text(name)
    parent, directory = deployments_dir(root), deployment_dir(root, name)
    created = [path for path in (parent, directory) if not path.exists()]
    lock_file = directory / LOCK_FILE
    while True:
        directory.mkdir(parents=True, exist_ok=True)
        handle = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            same = os.stat(lock_file).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)  # the previous holder removed the file (and maybe the directory) as we waited: again
    try:
        remove_stale(directory)
        yield
    finally:
        try:
            remove_stale(directory)
            lock_file.unlink(missing_ok=True)
            for path in reversed(created):
                with contextlib.suppress(OSError):  # not empty: a version, CURRENT, someone's files
                    path.rmdir()
        finally:
            os.close(handle)


def remove_stale(directory: Path) -> None:
    """Staging directories and temporary files of exports that died (only call it holding ``locked``)."""
    for child in directory.glob(".*"):
        if child.name.startswith(STAGING_PREFIX) or child.name.startswith(".CURRENT-"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def find_by_hash(root: str | Path, name: str, digest: str) -> VersionInfo | None:
    return next((info for info in list_versions(root, name) if info.content_hash == digest), None)


def commit(root: str | Path, name: str, stage: Path, info: VersionInfo) -> Path:
    """Write ``version.json`` into the staged directory and rename it to the next free ``vN``.

    ``info.checksums`` are the records the content hash was computed from, before the parity and batching
    checks ran the predictor in ``stage``: a predictor that wrote a file beside itself meanwhile is refused
    here (the version would fail verification from its first start). ``info.version`` is set here: the rename
    is the moment a number is taken, so two exports racing for the same number cannot both win (the loser
    retries with the next number).
    """
    directory = deployment_dir(root, name)
    records = info.checksums or {}
    info.files = [*sorted(records), "version.json"]
    for _ in range(100):
        versions = list_versions(root, name)
        number = version_number(versions[-1].version) + 1 if versions else 1
        info.version = f"v{number}"
        (stage / "version.json").write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
        problem = verify.verify(stage, artifacts=False)
        if problem is not None:
            raise VersionIntegrityError(
                f"{name}: running the predictor during export changed the version ({problem.file} "
                f"{problem.reason}): write such files elsewhere (under tempfile.gettempdir())",
                problem.file,
            )
        target = directory / info.version
        try:
            os.rename(stage, target)
        except OSError:
            if target.exists():
                continue
            raise
        return target
    raise RuntimeError(f"could not find a free version number under {directory}")


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def diff_versions(root: str | Path, name: str, old: str, new: str) -> str:
    """A unified diff of the text files of two versions (binary artifacts compared by hash)."""
    old_dir, new_dir = version_path(root, name, old), version_path(root, name, new)
    return diff_dirs(old_dir, new_dir, f"{name}/{old}", f"{name}/{new}")


def diff_dirs(old_dir: Path, new_dir: Path, old_label: str, new_label: str) -> str:
    files = sorted(
        {p.relative_to(old_dir).as_posix() for p in old_dir.rglob("*") if p.is_file()}
        | {p.relative_to(new_dir).as_posix() for p in new_dir.rglob("*") if p.is_file()}
    )
    chunks: list[str] = []
    for relative in files:
        if relative == "version.json":
            continue
        before, after = old_dir / relative, new_dir / relative
        old_bytes = before.read_bytes() if before.is_file() else b""
        new_bytes = after.read_bytes() if after.is_file() else b""
        if old_bytes == new_bytes:
            continue
        try:
            old_text, new_text = old_bytes.decode(), new_bytes.decode()
        except UnicodeDecodeError:
            state = "added" if not old_bytes else "removed" if not new_bytes else "changed"
            chunks.append(f"Binary file {relative} {state}\n")
            continue
        chunks.extend(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"{old_label}/{relative}",
                tofile=f"{new_label}/{relative}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def changed_files(old_dir: Path, new_dir: Path) -> list[str]:
    """Relative paths that differ between two version directories (``version.json`` aside)."""
    names = {p.relative_to(old_dir).as_posix() for p in old_dir.rglob("*") if p.is_file()} | {
        p.relative_to(new_dir).as_posix() for p in new_dir.rglob("*") if p.is_file()
    }
    return sorted(
        relative
        for relative in names - verify.UNHASHED
        if not (old_dir / relative).is_file()
        or not (new_dir / relative).is_file()
        or (old_dir / relative).read_bytes() != (new_dir / relative).read_bytes()
    )


def format_versions(infos: list[VersionInfo], current: str | None) -> str:
    """The table ``versions`` prints (CLI and ``%deploy versions``); ``*`` marks the current version."""
    lines = [f"{'':2}{'VERSION':8} {'CREATED':21} {'PARITY':8} {'HASH':12} NOTEBOOK"]
    for info in infos:
        marker = "* " if info.version == current else "  "
        parity = info.parity.status if info.parity else "-"
        lines.append(
            f"{marker}{info.version:8} {info.created:21} {parity:8} {info.content_hash[:12]:12} {info.notebook or '-'}"
        )
    return "\n".join(lines)


def export_summary(result: ExportResult) -> str:
    """The one line an export ends with (CLI, and the text form of the magic's version card)."""
    info = result.info
    parity = info.parity.status if info.parity else "not run"
    verb = "exported" if result.created else "unchanged, same as"
    return f"{info.name}: {verb} {info.version} at {result.path} (parity: {parity})"
