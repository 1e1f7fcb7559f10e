"""``jupyter-deploy validate [PATH]``: check manifests offline, each problem with its path in the document.

- InferenceService (``serving.kserve.io/v1beta1``): KServe v0.20.0's schema with unknown fields rejected
  (a misspelled ``minReplica`` is caught), plus the rules only KServe's admission webhook enforces.
- Built-in kinds (Deployment, CronJob, ConfigMap...): the strict offline schemas of ``kubernetes-validate``.
- Everywhere: names and label values against Kubernetes' rules, quantities that parse, and no literal value
  for a credential-like environment variable.
- ``kustomization.yaml``: every listed resource exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .options import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    HPA_METRICS,
    ISVC_NAME,
    LABEL_VALUE,
    QUANTITY,
    canary_problem,
    looks_secret,
    quantity_problem,
    quantity_value,
    storage_uri_problem,
)

ISVC_API = "serving.kserve.io/v1beta1"
SCHEMA = "manifests/schemas/kserve-v0.20.0/inferenceservice-v1beta1.openapiv3.json"
DEPLOYMENT_MODES = ("Standard", "Knative", "RawDeployment", "Serverless")  # the last two deprecated
AUTOSCALER_CLASSES = ("hpa", "external", "none", "keda")
KPA_METRICS = ("concurrency", "rps")
COMPONENTS = ("predictor", "transformer", "explainer")
PREDICTOR_IMPLEMENTATIONS = (
    "model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
    "lightgbm", "paddle",
)  # fmt: skip
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.file, self.path, self.message)

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(document)'}: {self.message}"


# -- schemas ----------------------------------------------------------------------------------------------
def _strict(schema: Any) -> Any:
    """A copy where every object with ``properties`` refuses unknown fields (see schemas/README.md)."""
    if isinstance(schema, dict):
        result = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            result["additionalProperties"] = False
        return result
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@lru_cache(maxsize=1)
def _isvc_validator() -> Any:
    import jsonschema

    from ..render import template_dir

    schema = json.loads((template_dir() / SCHEMA).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(_strict(schema))


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_problems(validator: Any, document: dict[str, Any], file: str) -> Iterator[Problem]:
    for error in sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        if error.validator == "additionalProperties" and error.validator_value is False:
            known = sorted(error.schema.get("properties", {}))
            for field in sorted(set(error.instance) - set(known)):
                hint = _closest(field, known)
                yield Problem(
                    file,
                    _path([*error.absolute_path, field]),
                    f"unknown field {field!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                )
        else:
            yield Problem(file, _path(error.absolute_path), error.message)


def _closest(field: str, known: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(field, known, n=1, cutoff=0.7)
    return matches[0] if matches else None


def _builtin_problems(document: dict[str, Any], file: str, kubernetes_version: str | None) -> Iterator[Problem]:
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    desired = kubernetes_version or kubernetes_validate.latest_version()
    version = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(desired)][-1]
    api = document["apiVersion"]
    group_version = api.split("/", 1)[0].split(".", 1)[0] + "-" + api.split("/", 1)[1] if "/" in api else api
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    try:
        schema = utils.schema_contents(f"{folder}/{document['kind'].lower()}-{group_version}.json", desired)
    except FileNotFoundError:
        yield Problem(
            file,
            "",
            f"no schema for kind {document['kind']} in {api} (Kubernetes {utils.major_minor(version)})",
        )
        return
    definitions = utils.schema_contents(f"{folder}/_definitions.json", desired)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    yield from _schema_problems(validator, document, file)


# -- rules the schemas do not carry ----------------------------------------------------------------------
def _metadata_problems(document: dict[str, Any], file: str, isvc: bool) -> Iterator[Problem]:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        yield Problem(file, "metadata", "missing metadata")
        return
    name = metadata.get("name")
    pattern, rule = (
        (ISVC_NAME, "lower-case letters, digits and '-', starting with a letter")
        if isvc
        else (DNS1123_SUBDOMAIN, "lower-case letters, digits, '-' and '.'")
    )
    if not isinstance(name, str) or not pattern.match(name) or len(name) > (63 if isvc else 253):
        yield Problem(file, "metadata.name", f"{name!r} is not a valid name: {rule}")
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not DNS1123_LABEL.match(namespace)):
        yield Problem(file, "metadata.namespace", f"{namespace!r} is not a valid namespace")
    yield from _labels(metadata.get("labels"), "metadata.labels", file, values=True)
    yield from _labels(metadata.get("annotations"), "metadata.annotations", file, values=False)


def _labels(mapping: Any, where: str, file: str, values: bool) -> Iterator[Problem]:
    if not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        prefix, slash, name = str(key).rpartition("/")
        if (slash and not DNS1123_SUBDOMAIN.match(prefix)) or not LABEL_VALUE.match(name) or not name or len(name) > 63:
            yield Problem(file, f"{where}.{key}", f"{key!r} is not a valid key")
        if not isinstance(value, str):
            yield Problem(file, f"{where}.{key}", f"value {value!r} must be a string (quote it)")
        elif values and (not LABEL_VALUE.match(value) or len(value) > 63):
            yield Problem(file, f"{where}.{key}", f"{value!r} is not a valid label value")


def _walk(node: Any, parts: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    yield parts, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, [*parts, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, [*parts, index])


def _content_problems(document: dict[str, Any], file: str) -> Iterator[Problem]:
    """Quantities parse; credential-like env vars take their value from a Secret, never literally."""
    for parts, node in _walk(document, []):
        if not parts:
            continue
        key = parts[-1]
        if key in ("requests", "limits") and len(parts) >= 2 and parts[-2] == "resources" and isinstance(node, dict):
            for resource, quantity in node.items():
                problem = quantity_problem(str(quantity))
                if problem:
                    yield Problem(file, _path([*parts, resource]), problem)
        elif key == "resources" and isinstance(node, dict):
            yield from _limits_below_requests(node, parts, file)
        elif key == "sizeLimit" and quantity_problem(str(node)):
            yield Problem(file, _path(parts), str(quantity_problem(str(node))))
        elif key == "env" and isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, dict) and "value" in item and looks_secret(str(item.get("name", ""))):
                    yield Problem(
                        file,
                        _path([*parts, index, "value"]),
                        f"{item.get('name')} looks like a credential: take it from a Secret "
                        "(valueFrom.secretKeyRef), never a literal value",
                    )


def _limits_below_requests(resources: dict[str, Any], parts: list[Any], file: str) -> Iterator[Problem]:
    """Kubernetes refuses a container whose limit is smaller than its request."""
    requests, limits = resources.get("requests"), resources.get("limits")
    if not isinstance(requests, dict) or not isinstance(limits, dict):
        return
    for resource, limit in limits.items():
        request = requests.get(resource)
        if request is None or not QUANTITY.match(str(limit)) or not QUANTITY.match(str(request)):
            continue
        if quantity_value(str(limit)) < quantity_value(str(request)):
            yield Problem(
                file,
                _path([*parts, "limits", resource]),
                f"limit {limit} is below the request {request}: Kubernetes refuses a limit smaller than its request",
            )


def _webhook_problems(document: dict[str, Any], file: str) -> Iterator[Problem]:
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


# -- entry points -----------------------------------------------------------------------------------------
def validate_document(document: Any, file: str = "<document>", kubernetes_version: str | None = None) -> list[Problem]:
    """Every problem of one parsed manifest."""
    if not isinstance(document, dict):
        return [Problem(file, "", "not a mapping: a manifest has apiVersion, kind and metadata")]
    api, kind = document.get("apiVersion"), document.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return [Problem(file, "apiVersion" if not isinstance(api, str) else "kind", "missing")]
    if api.startswith("kustomize.config.k8s.io/"):
        return []  # checked by validate_path, which knows the directory
    problems: list[Problem] = []
    if api == ISVC_API and kind == "InferenceService":
        problems += _schema_problems(_isvc_validator(), document, file)
        problems += _webhook_problems(document, file)
    elif api.startswith("serving.kserve.io/"):
        problems.append(Problem(file, "apiVersion", f"only {ISVC_API} InferenceService is checked, not {api} {kind}"))
    else:
        problems += _builtin_problems(document, file, kubernetes_version)
    problems += _metadata_problems(document, file, isvc=kind == "InferenceService")
    seen = {problem.path for problem in problems}
    problems += [problem for problem in _content_problems(document, file) if problem.path not in seen]
    return problems


def _kustomization_problems(path: Path, data: Any, file: str) -> Iterator[Problem]:
    if not isinstance(data, dict):
        yield Problem(file, "", "not a mapping")
        return
    for index, resource in enumerate(data.get("resources") or []):
        if "://" not in str(resource) and not (path.parent / str(resource)).exists():
            yield Problem(file, f"resources[{index}]", f"{resource!r} does not exist")


def validate_path(path: str | Path, kubernetes_version: str | None = None) -> list[Problem]:
    """Every problem in a manifest file, or in every ``*.yaml`` under a directory (``deploy/NAME``)."""
    import yaml

    from ..exceptions import NotFoundError

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path} does not exist: generate it with jupyter-deploy manifests NAME")
    base = path if path.is_dir() else path.parent
    files = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()) if path.is_dir() else [path]
    problems: list[Problem] = []
    for file in files:
        label = file.relative_to(base).as_posix() if path.is_dir() else str(file)
        try:
            documents = [doc for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")) if doc is not None]
        except yaml.YAMLError as error:
            problems.append(Problem(label, "", f"not valid YAML: {' '.join(str(error).split())}"))
            continue
        for index, document in enumerate(documents):
            name = label if len(documents) == 1 else f"{label}#{index}"
            if file.name in ("kustomization.yaml", "kustomization.yml"):
                problems += _kustomization_problems(file, document, name)
            else:
                problems += validate_document(document, name, kubernetes_version)
    return problems
