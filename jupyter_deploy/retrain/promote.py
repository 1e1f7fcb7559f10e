"""Promotion of a retrained version, all or nothing: the MLflow registry, then ``deploy/NAME/`` manifests
regenerated for it, then ``CURRENT``. A step that fails undoes the ones before it (the manifests directory is
put back byte for byte, the registered model version removed), so a failed promotion changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..versions import store as version_store


def promote(
    store: Any, root: Path, name: str, export: dict[str, Any], run_id: str, canary: int | None
) -> tuple[dict[str, Any] | None, str]:
    """Registry, manifests, ``CURRENT``: all or nothing. The registry goes first (a remote store is what most
    often refuses), ``CURRENT`` last (one rename, the commit point); a step failing undoes the ones before."""
    from ..cluster.manifests import deploy_dir

    version = export["version"]
    source = store.log_version(run_id, export["path"])
    aliased = store.aliased_version(name)
    registered = store.register(name, version, run_id, source)  # all or nothing itself
    directory = deploy_dir(root, name)
    before = _snapshot(directory)
    try:
        manifests = _promote_manifests(root, name, version, canary)
        version_store.set_current(root, name, version)
    except BaseException:
        _restore(directory, before)
        store.unregister(name, registered, aliased)
        raise
    return manifests, registered


def _promote_manifests(root: Path, name: str, version: str, canary: int | None) -> dict[str, Any] | None:
    """Regenerate ``deploy/NAME/`` for the promoted version when it exists (or a canary is asked for)."""
    from ..cluster.manifests import deploy_dir, write_manifests

    if canary is None and not deploy_dir(root, name).is_dir():
        return None
    return write_manifests(root, f"{name}@{version}", {"canary": canary} if canary is not None else None)


def _snapshot(directory: Path) -> dict[Path, bytes] | None:
    """Every file under ``directory`` (None: no such directory), to put back if the promotion fails."""
    if not directory.is_dir():
        return None
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def _restore(directory: Path, files: dict[Path, bytes] | None) -> None:
    import shutil

    if files is None:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for path in [path for path in directory.rglob("*") if path.is_file() and path not in files]:
        path.unlink()
    for path, content in files.items():
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
