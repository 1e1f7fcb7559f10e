"""Canaries: part of the traffic on a new version, the rest on the one ``deploy/NAME/`` serves now.

``manifests NAME@vNEW --canary P`` splits between the *deployed* version (what
``deploy/NAME/base/inferenceservice.yaml`` serves now: the manifests are the record of what runs) and vNEW,
which takes P percent. ``CURRENT`` is not the reference: export moves it to every new version. KServe v0.20
splits in two ways, one per deployment mode:

- Knative: ``spec.predictor.canaryTrafficPercent: P`` on vNEW's predictor; Knative keeps the rest on the
  revision rolled out before (vOLD).
- Standard: ``canaryTrafficPercent`` is ignored; ``spec.canary: [{trafficPercent: P, predictor: {name: vNEW,
  ...}}]`` runs vNEW as a named predictor (its own Deployment, fixed replicas) beside the stable
  ``spec.predictor`` (vOLD). KServe's webhook accepts this only when the stable predictor loads a model from
  storage (``model``/``storageUri``): so in Standard mode both versions run on a stock runtime.

``manifests NAME --promote`` rewrites the manifests to the canary version alone (no split; byte-identical
to writing that version from scratch) and points ``CURRENT`` at it. In Standard mode KServe then rolls the
stable predictor's Deployment to it and deletes the canary's; in Knative mode the new revision takes all the
traffic. Writing ``manifests NAME@vK`` without ``--canary`` does the same for any version (a rollback is
``manifests NAME@vOLD``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import OptionsError

STABLE_ANNOTATION = "jupyter-deploy/stable-version"
CANARY_ANNOTATION = "jupyter-deploy/canary-version"
VERSION_LABEL = "app.kubernetes.io/version"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"


@dataclass(frozen=True)
class Deployed:
    """What ``deploy/NAME/base/inferenceservice.yaml`` serves now."""

    stable: str  # the version taking the rest of the traffic
    canary: str | None  # the version in a canary split, if one is written
    mode: str | None
    stable_storage_uri: str | None  # spec.predictor.model.storageUri (stock runtimes)
    canary_storage_uri: str | None


def deployed(isvc_file: Path) -> Deployed | None:
    """The versions the written InferenceService serves, or None when there is none (or it is unreadable)."""
    import yaml

    if not isvc_file.is_file():
        return None
    try:
        document = yaml.safe_load(isvc_file.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None
    if not isinstance(document, dict):
        return None
    metadata = document.get("metadata") or {}
    annotations, labels = metadata.get("annotations") or {}, metadata.get("labels") or {}
    spec = document.get("spec") or {}
    canary = annotations.get(CANARY_ANNOTATION)
    stable = annotations.get(STABLE_ANNOTATION) if canary else labels.get(VERSION_LABEL)
    if not isinstance(stable, str):
        return None
    entries = spec.get("canary") or []
    canary_predictor = entries[0].get("predictor") if entries and isinstance(entries[0], dict) else None
    return Deployed(
        stable=stable,
        canary=canary if isinstance(canary, str) else None,
        mode=annotations.get(MODE_ANNOTATION),
        stable_storage_uri=_storage_uri(spec.get("predictor")),
        canary_storage_uri=_storage_uri(canary_predictor),
    )


def _storage_uri(predictor: Any) -> str | None:
    model = predictor.get("model") if isinstance(predictor, dict) else None
    uri = model.get("storageUri") if isinstance(model, dict) else None
    return uri if isinstance(uri, str) else None


def stable_version(name: str, new_version: str, percent: int, current: Deployed | None) -> str:
    """The version that keeps ``100 - percent``; ``OptionsError`` (one line) when there is nothing to split."""
    if current is None:
        raise OptionsError(
            f"--canary {percent}: a canary splits traffic between the version deploy/{name}/ serves now and a new "
            f"one, and deploy/{name}/ serves none yet: write and apply one first (jupyter-deploy manifests {name})",
            "canary",
        )
    if current.stable == new_version:
        raise OptionsError(
            f"--canary {percent}: deploy/{name}/ already serves {new_version}; a canary needs a newer version "
            f"(export one, then jupyter-deploy manifests {name}@vN --canary {percent})",
            "canary",
        )
    return current.stable


def standard_canary_problem(name: str, runtime: str) -> str | None:
    """Why KServe's webhook would refuse a Standard-mode ``spec.canary`` for this runtime (None: fine)."""
    if runtime in ("stock", "pytorch", "mlflow"):
        return None
    return (
        "--canary in Standard mode: KServe v0.20 splits traffic there (spec.canary) only when the predictor "
        "loads its model from storage, and the predictor image carries its artifacts; use --mode Knative "
        f"(canaryTrafficPercent), or serve both versions with --runtime stock --storage-uri URI ({name})"
    )


def promoted_version(name: str, current: Deployed | None) -> str:
    """The canary version ``--promote`` makes the only one."""
    if current is None or current.canary is None:
        raise OptionsError(
            f"--promote: deploy/{name}/ has no canary to promote (write one with jupyter-deploy manifests "
            f"{name}@vN --canary P)",
            "promote",
        )
    return current.canary


def canary_precheck(root: str | Path, name: str, percent: int) -> None:
    """What ``retrain --canary`` can check before its run: something deployed to split against, in a mode and
    runtime KServe accepts a canary for (options from deploy.yaml and the deployed version's magic line)."""
    from ..project import resolve_options
    from ..versions.store import read_info, version_path
    from .layout import isvc_path
    from .options import RUNTIME_ALIASES

    current = deployed(isvc_path(root, name))
    stable = stable_version(name, "", percent, current)
    assert current is not None
    try:
        recorded = read_info(version_path(root, name, stable)).options
    except Exception:  # the deployed version's directory is gone: deploy.yaml alone
        recorded = {}
    options = resolve_options(root, name, recorded=recorded)
    mode = str(options.get("mode") or "Standard")
    if current.mode and current.mode != mode:
        raise OptionsError(
            f"--canary: deploy/{name}/ runs in {current.mode} mode but the options say {mode}, and KServe cannot "
            f"change an InferenceService's mode: set mode: {current.mode} in deploy.yaml",
            "mode",
        )
    runtime = str(options.get("runtime") or "predictor")
    problem = standard_canary_problem(name, RUNTIME_ALIASES.get(runtime, runtime)) if mode == "Standard" else None
    if problem:
        raise OptionsError(problem, "canary")
