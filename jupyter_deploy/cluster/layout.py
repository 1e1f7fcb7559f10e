"""Where a deployment's manifests live (``deploy/NAME/``) and what its kustomize base lists.

``deploy/NAME/`` holds the Dockerfile, ``base/`` (the kustomize base: ``inferenceservice.yaml``,
``kustomization.yaml`` and what other commands add, such as ``retrain-cronjob.yaml``) and
``overlays/{dev,prod}/``. The base's ``resources`` keep ``inferenceservice.yaml`` first, then what others
added, for as long as those files exist.
"""

from __future__ import annotations

from pathlib import Path

from ..exceptions import NotFoundError
from ..files import write_atomic
from ..render import render

ISVC_FILE = "inferenceservice.yaml"
KUSTOMIZATION = "kustomization.yaml"
BASE = "base"  # kustomize refuses overlays nested inside their base, so the base is a sibling of overlays/
KUSTOMIZATION_TEMPLATE = "manifests/kustomization.yaml.j2"


def deploy_dir(root: str | Path, name: str) -> Path:
    """``deploy/NAME/``: Dockerfile, ``base/`` (the kustomize base) and ``overlays/{dev,prod}/``."""
    return Path(root) / "deploy" / name


def base_dir(root: str | Path, name: str) -> Path:
    """``deploy/NAME/base/``: ``inferenceservice.yaml``, ``kustomization.yaml`` and added resources."""
    return deploy_dir(root, name) / BASE


def isvc_path(root: str | Path, name: str) -> Path:
    """``deploy/NAME/base/inferenceservice.yaml``: what ``apply`` sends."""
    return base_dir(root, name) / ISVC_FILE


def read_resources(kustomization: Path) -> list[str]:
    import yaml

    if not kustomization.is_file():
        return []
    data = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
    return [str(item) for item in data.get("resources") or []]


def merged_resources(existing: list[str], directory: Path) -> list[str]:
    """``inferenceservice.yaml`` first, then what others added (kept while the file exists), in order."""
    extras = [item for item in existing if item != ISVC_FILE and (directory / item).exists()]
    return [ISVC_FILE, *dict.fromkeys(extras)]


def add_to_kustomization(deploy_dir: Path, filename: str) -> bool:
    """List ``filename`` in the base ``kustomization.yaml`` of ``deploy_dir``; True if it changed.

    ``deploy_dir`` is ``deploy/NAME`` (or its ``base/``); the file must be in ``deploy/NAME/base/`` (see
    ``base_dir``), next to ``inferenceservice.yaml``, so that the dev and prod overlays include it too.
    Regenerating the manifests keeps the entry as long as the file exists.
    """
    deploy_dir = Path(deploy_dir)
    if deploy_dir.name != BASE:
        deploy_dir = deploy_dir / BASE
    kustomization = deploy_dir / KUSTOMIZATION
    if not kustomization.is_file():
        raise NotFoundError(
            f"{kustomization} does not exist: generate the manifests first (jupyter-deploy manifests NAME)"
        )
    if not (deploy_dir / filename).is_file():
        raise NotFoundError(f"{deploy_dir / filename} does not exist: write it before listing it")
    existing = read_resources(kustomization)
    if filename in existing:
        return False
    resources = merged_resources([*existing, filename], deploy_dir)
    write_atomic(kustomization, render(KUSTOMIZATION_TEMPLATE, name=deploy_dir.parent.name, resources=resources))
    return True
