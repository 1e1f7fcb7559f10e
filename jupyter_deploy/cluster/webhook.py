"""What KServe's validating admission webhook (v0.20) refuses and the CRD schema does not say.

The deployment mode annotation, replica bounds, scale metrics per mode, one implementation per predictor,
storage URIs the storage initializer reads, and the rules of a canary: ``canaryTrafficPercent`` (Knative) or
``spec.canary`` (Standard: named predictors beside a stable one that loads its model from storage).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .options import HPA_METRICS
from .rules import canary_problem, storage_uri_problem
from .schemas import Problem

DEPLOYMENT_MODES = ("Standard", "Knative", "RawDeployment", "Serverless")  # the last two deprecated
AUTOSCALER_CLASSES = ("hpa", "external", "none", "keda")
KPA_METRICS = ("concurrency", "rps")
COMPONENTS = ("predictor", "transformer", "explainer")
PREDICTOR_IMPLEMENTATIONS = (
    "model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
    "lightgbm", "paddle",
)  # fmt: skip


def webhook_problems(document: dict[str, Any], file: str) -> Iterator[Problem]:
    """What KServe's validating webhook checks and the CRD schema does not."""
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    mode = annotations.get("serving.kserve.io/deploymentMode")
    where = "metadata.annotations.serving.kserve.io/deploymentMode"
    if mode is None:
        yield Problem(file, where, "missing: set it explicitly to Standard or Knative")
    elif mode not in DEPLOYMENT_MODES:
        yield Problem(file, where, f"{mode!r} is not a deployment mode: use Standard or Knative")
    autoscaler = annotations.get("serving.kserve.io/autoscalerClass")
    if autoscaler is not None and autoscaler not in AUTOSCALER_CLASSES:
        yield Problem(
            file,
            "metadata.annotations.serving.kserve.io/autoscalerClass",
            f"{autoscaler!r} is not one of {', '.join(AUTOSCALER_CLASSES)}",
        )
    spec = document.get("spec") or {}
    standard = mode in ("Standard", "RawDeployment")
    knative_hpa = annotations.get("autoscaling.knative.dev/class") == "hpa.autoscaling.knative.dev"
    for component in COMPONENTS:
        part = spec.get(component)
        if not isinstance(part, dict):
            continue
        base = f"spec.{component}"
        low, high = part.get("minReplicas"), part.get("maxReplicas")
        if isinstance(low, int) and low < 0:
            yield Problem(file, f"{base}.minReplicas", "cannot be less than 0")
        if isinstance(high, int) and high < 0:
            yield Problem(file, f"{base}.maxReplicas", "cannot be less than 0")
        if isinstance(low, int) and isinstance(high, int) and high != 0 and low > high:
            yield Problem(
                file,
                f"{base}.minReplicas",
                f"minReplicas ({low}) cannot be greater than maxReplicas ({high})",
            )
        canary = part.get("canaryTrafficPercent")
        if canary is not None and standard:
            yield Problem(
                file,
                f"{base}.canaryTrafficPercent",
                f"ignored in {mode} mode (KServe v0.20 honours it only in Knative mode): use "
                "spec.canary, a named predictor for the new version beside this one",
            )
        elif isinstance(canary, int) and canary_problem(canary):
            yield Problem(file, f"{base}.canaryTrafficPercent", str(canary_problem(canary)))
        metric, target = part.get("scaleMetric"), part.get("scaleTarget")
        if standard and autoscaler in (None, "hpa"):
            if metric is not None and metric not in HPA_METRICS:
                yield Problem(
                    file, f"{base}.scaleMetric", f"{metric!r} needs Knative mode: HPA scales on cpu or memory"
                )
            if isinstance(target, int) and (metric or "cpu") == "cpu" and not 1 <= target <= 100:
                yield Problem(file, f"{base}.scaleTarget", "the cpu target utilization is a percentage (1..100)")
        elif mode in ("Knative", "Serverless") and not knative_hpa and metric is not None and metric not in KPA_METRICS:
            yield Problem(
                file,
                f"{base}.scaleMetric",
                f"{metric!r} needs the annotation autoscaling.knative.dev/class: hpa.autoscaling.knative.dev",
            )
        implementations = [name for name in PREDICTOR_IMPLEMENTATIONS if part.get(name) is not None]
        if component == "predictor" and len(implementations) + bool(part.get("containers")) != 1:
            yield Problem(file, base, "exactly one of model, a framework (pytorch, ...) or containers must be set")
        for name in implementations:
            uri = (part.get(name) or {}).get("storageUri")
            problem = storage_uri_problem(uri) if isinstance(uri, str) else None
            if problem:
                yield Problem(file, f"{base}.{name}.storageUri", problem)
    yield from _canary_problems(spec, mode, file)


def _canary_problems(spec: dict[str, Any], mode: Any, file: str) -> Iterator[Problem]:
    """KServe v0.20's webhook rules for ``spec.canary`` (validateCanarySpecs), with the package's canary range."""
    canaries = spec.get("canary")
    if not isinstance(canaries, list) or not canaries:
        return
    if mode != "Standard":
        yield Problem(
            file,
            "spec.canary",
            f"only Standard mode runs spec.canary, not {mode}: in Knative mode set "
            "spec.predictor.canaryTrafficPercent on the new version",
        )
    found = spec.get("predictor")
    stable: dict[str, Any] = found if isinstance(found, dict) else {}
    implementations = [stable[name] for name in PREDICTOR_IMPLEMENTATIONS if isinstance(stable.get(name), dict)]
    if not any(isinstance(item.get("storageUri"), str) for item in implementations) and not _storage_env(stable):
        yield Problem(
            file,
            "spec.predictor",
            "spec.canary needs a stable predictor that loads its model from storage (model.storageUri)",
        )
    names: set[str] = set()
    total = 0
    for index, entry in enumerate(canaries):
        where = f"spec.canary[{index}]"
        predictor = entry.get("predictor") if isinstance(entry, dict) else None
        if not isinstance(predictor, dict):
            continue
        name = predictor.get("name")
        if not name:
            yield Problem(file, f"{where}.predictor.name", "required: it names the canary's Deployment")
        elif name in names or name == stable.get("name"):
            yield Problem(file, f"{where}.predictor.name", f"{name!r} is already the name of another predictor")
        names.add(str(name))
        percent = entry.get("trafficPercent")
        if isinstance(percent, int):
            total += percent
            if canary_problem(percent):
                yield Problem(file, f"{where}.trafficPercent", str(canary_problem(percent)))
        for field in ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling"):
            if predictor.get(field) is not None:
                yield Problem(file, f"{where}.predictor.{field}", "a canary runs fixed replicas: leave it out")
        low, stable_low = predictor.get("minReplicas"), stable.get("minReplicas", 1)
        if isinstance(low, int) and isinstance(stable_low, int) and low > stable_low:
            yield Problem(file, f"{where}.predictor.minReplicas", f"more than the stable predictor's ({stable_low})")
        chosen = [name for name in PREDICTOR_IMPLEMENTATIONS if predictor.get(name) is not None]
        if len(chosen) + bool(predictor.get("containers")) != 1:
            yield Problem(file, f"{where}.predictor", "exactly one of model, a framework or containers must be set")
    if total > 100:
        yield Problem(file, "spec.canary", f"the canaries take {total}% of the traffic, more than 100%")


def _storage_env(predictor: dict[str, Any]) -> bool:
    """A custom container with STORAGE_URI counts as loading from storage (KServe's CustomPredictor)."""
    for container in predictor.get("containers") or []:
        if isinstance(container, dict) and container.get("name") == "kserve-container":
            return any(isinstance(env, dict) and env.get("name") == "STORAGE_URI" for env in container.get("env") or [])
    return False
