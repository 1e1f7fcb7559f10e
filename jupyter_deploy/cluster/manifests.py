"""``deploy/NAME/``: the KServe manifests, Dockerfile and kustomize overlays of one deployment.

Everything is rendered from ``templates/manifests/`` into a temporary directory beside ``deploy/NAME/``,
validated there, and only then swapped into place: a bad option or an invalid result leaves the existing
files untouched. Output is deterministic (no timestamps, fixed key order), so regenerating with the same
inputs gives byte-identical files and ``git diff`` shows only real changes. Files that other parts of
jupyter-deploy add to ``deploy/NAME/`` (``retrain-cronjob.yaml``) are kept, and so are their entries in
``kustomization.yaml``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..records import VersionInfo
from .layout import BASE, KUSTOMIZATION, base_dir, deploy_dir, merged_resources, read_resources
from .options import ManifestOptions
from .plan import Rollout
from .rendering import GENERATED, copied_files, render_files
from .stock import MODEL_DIR, UPLOAD_NOTE


def _same_tree(first: Path, second: Path) -> bool:
    def listing(directory: Path) -> dict[str, bytes]:
        return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}

    return first.is_dir() and listing(first) == listing(second)


def _skip_model_dir(target: Path) -> Any:
    """copytree's ``ignore``: the top-level ``model/`` (stock model files, copied afresh) is not copied."""
    return lambda directory, names: [MODEL_DIR] if Path(directory) == target and MODEL_DIR in names else []


def _swap(stage: Path, target: Path) -> None:
    """Put ``stage`` where ``target`` is: rename the old one aside, rename the new one in, drop the old."""
    if not target.exists():
        os.rename(stage, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    backup.rmdir()
    os.rename(target, backup)
    try:
        os.rename(stage, target)
    except OSError:
        os.rename(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def generate(
    root: str | Path, info: VersionInfo, options: ManifestOptions, rollout: Rollout | None = None
) -> dict[str, Any]:
    """Render, validate and atomically write ``deploy/NAME/``; returns what was written."""
    from .validate import validate_path

    rollout = rollout or Rollout(info, Path(root) / "deployments" / info.name / info.version)
    target = deploy_dir(root, options.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    resources = merged_resources(read_resources(target / BASE / KUSTOMIZATION), target / BASE)
    files = render_files(options, rollout, resources)
    copies = copied_files(rollout)
    stage = Path(tempfile.mkdtemp(prefix=f".{options.name}-new-", dir=target.parent))
    try:
        if target.is_dir():
            shutil.copytree(target, stage, dirs_exist_ok=True, symlinks=True, ignore=_skip_model_dir(target))
        # what an earlier run generated and this one does not (a runtime switch) goes; others' files stay
        for relative in [*GENERATED, UPLOAD_NOTE]:
            if relative not in files:
                (stage / relative).unlink(missing_ok=True)
        shutil.rmtree(stage / MODEL_DIR, ignore_errors=True)
        for relative, text in files.items():
            path = stage / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        for relative, source in copies.items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, stage / relative)
        # only what is generated here: files others added (retrain-cronjob.yaml) are theirs to validate
        problems = [
            problem for relative in files if relative.endswith(".yaml") for problem in validate_path(stage / relative)
        ]
        if problems:
            first = problems[0]
            raise ValidationError(
                f"generated manifests do not validate ({len(problems)} problem(s)); first: "
                f"{Path(first.file).relative_to(stage)}: {first.path}: {first.message}",
                [problem.as_tuple() for problem in problems],
            )
        changed = not _same_tree(target, stage)
        if changed:
            _swap(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return {
        "name": options.name,
        "version": info.version,
        "directory": str(target),
        "files": [str(target / relative) for relative in [*files, *copies]],
        "changed": changed,
        "canary": (
            {"version": info.version, "percent": rollout.canary, "stable": rollout.stable.version}
            if rollout.canary is not None and rollout.stable is not None
            else None
        ),
        "model_format": rollout.stock.model_format if rollout.stock else None,
    }


def write_manifests(
    root: str | Path,
    spec: str,
    cli_options: dict[str, Any] | None = None,
    commit: bool = False,
    promote: bool = False,
) -> dict[str, Any]:
    """``jupyter-deploy manifests NAME[@vN]``: options resolved CLI > magic line > deploy.yaml.

    ``promote``: write the canary version of ``deploy/NAME/`` alone and point ``CURRENT`` at it.
    Returns ``{name, version, directory, files, changed, canary, model_format, commit}``; ``commit`` is the
    new commit's id when ``commit=True`` and something was staged, else None.
    """
    from ..versions.store import current_version, set_current
    from .plan import plan

    options, rollout = plan(root, spec, cli_options, promote)
    info = rollout.info
    result = generate(root, info, options, rollout)
    if promote and current_version(root, info.name) != info.version:
        set_current(root, info.name, info.version)
    result["commit"] = None
    if commit:
        from .gitops import commit_deployment

        result["commit"] = commit_deployment(root, info, deploy_dir(root, info.name), rollout.version_dir)
    return result


def preview_manifests(root: str | Path, spec: str, cli_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``write_manifests`` would write for ``NAME[@vN]``, rendered in memory: ``{name, version, files}``
    with ``files`` mapping ``deploy/NAME/...`` to its text (copied model files are listed, not read).
    Nothing is written or validated."""
    from .plan import plan

    options, rollout = plan(root, spec, cli_options)
    info = rollout.info
    base = base_dir(root, info.name)
    files = render_files(options, rollout, merged_resources(read_resources(base / KUSTOMIZATION), base))
    for relative, source in copied_files(rollout).items():
        files[relative] = f"(copied from {source.relative_to(Path(root)).as_posix()})\n"
    return {
        "name": info.name,
        "version": info.version,
        "files": {f"deploy/{info.name}/{relative}": text for relative, text in files.items()},
    }
