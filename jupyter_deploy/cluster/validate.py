"""``jupyter-deploy validate [PATH]``: check manifests offline, each problem with its path in the document.

- InferenceService (``serving.kserve.io/v1beta1``): KServe v0.20.0's schema with unknown fields rejected
  (a misspelled ``minReplica`` is caught), plus the rules only KServe's admission webhook enforces.
- Built-in kinds (Deployment, CronJob, ConfigMap...): the strict offline schemas of ``kubernetes-validate``.
- Everywhere: names and label values against Kubernetes' rules, quantities that parse, container images that
  are image references, no literal value for a credential-like environment variable and no URI that carries
  a credential.
- ``kustomization.yaml``: every listed resource exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import rules
from .schemas import Problem, builtin_problems, isvc_validator, json_path, schema_problems
from .webhook import webhook_problems

ISVC_API = "serving.kserve.io/v1beta1"
YAML_SUFFIXES = (".yaml", ".yml")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


# -- rules of every kind ---------------------------------------------------------------------------------
def _metadata_problems(document: dict[str, Any], file: str, isvc: bool) -> Iterator[Problem]:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        yield Problem(file, "metadata", "missing metadata")
        return
    name = metadata.get("name")
    valid, rule = (
        (rules.is_deployment_name, "lower-case letters, digits and '-', starting with a letter")
        if isvc
        else (rules.is_dns_subdomain, "lower-case letters, digits, '-' and '.'")
    )
    if not isinstance(name, str) or not valid(name):
        yield Problem(file, "metadata.name", f"{name!r} is not a valid name: {rule}")
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not rules.is_dns_label(namespace)):
        yield Problem(file, "metadata.namespace", f"{namespace!r} is not a valid namespace")
    yield from _labels(metadata.get("labels"), "metadata.labels", file, values=True)
    yield from _labels(metadata.get("annotations"), "metadata.annotations", file, values=False)


def _labels(mapping: Any, where: str, file: str, values: bool) -> Iterator[Problem]:
    if not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        prefix, slash, name = str(key).rpartition("/")
        if (slash and not rules.is_dns_subdomain(prefix)) or not name or not rules.is_label_value(name):
            yield Problem(file, f"{where}.{key}", f"{key!r} is not a valid key")
        if not isinstance(value, str):
            yield Problem(file, f"{where}.{key}", f"value {value!r} must be a string (quote it)")
        elif values and not rules.is_label_value(value):
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
    """Quantities parse, images are references; credentials come from a Secret, never literally or in a URI."""
    for parts, node in _walk(document, []):
        if not parts:
            continue
        key = parts[-1]
        if key in ("requests", "limits") and len(parts) >= 2 and parts[-2] == "resources" and isinstance(node, dict):
            for resource, quantity in node.items():
                problem = rules.quantity_problem(str(quantity))
                if problem:
                    yield Problem(file, json_path([*parts, resource]), problem)
        elif key == "resources" and isinstance(node, dict):
            yield from _limits_below_requests(node, parts, file)
        elif key == "sizeLimit" and rules.quantity_problem(str(node)):
            yield Problem(file, json_path(parts), str(rules.quantity_problem(str(node))))
        elif key == "image" and len(parts) >= 3 and parts[-3] in CONTAINER_LISTS and isinstance(node, str):
            problem = rules.image_problem(node)
            if problem:
                yield Problem(file, json_path(parts), problem)
        elif isinstance(node, str) and rules.credential_problem(node):
            yield Problem(file, json_path(parts), str(rules.credential_problem(node)))
        elif key == "env" and isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, dict) and "value" in item and rules.looks_secret(str(item.get("name", ""))):
                    yield Problem(
                        file,
                        json_path([*parts, index, "value"]),
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
        if request is None or not rules.QUANTITY.match(str(limit)) or not rules.QUANTITY.match(str(request)):
            continue
        if rules.quantity_value(str(limit)) < rules.quantity_value(str(request)):
            yield Problem(
                file,
                json_path([*parts, "limits", resource]),
                f"limit {limit} is below the request {request}: Kubernetes refuses a limit smaller than its request",
            )


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
        problems += schema_problems(isvc_validator(), document, file)
        problems += webhook_problems(document, file)
    elif api.startswith("serving.kserve.io/"):
        problems.append(Problem(file, "apiVersion", f"only {ISVC_API} InferenceService is checked, not {api} {kind}"))
    else:
        problems += builtin_problems(document, file, kubernetes_version)
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
