"""Schema checks of one manifest, each problem with its path in the document.

InferenceService (``serving.kserve.io/v1beta1``): KServe v0.20.0's CRD schema with unknown fields rejected (a
misspelled ``minReplica`` is caught, with the closest known field); built-in kinds (Deployment, CronJob...):
the strict offline schemas of ``kubernetes-validate``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SCHEMA = "manifests/schemas/kserve-v0.20.0/inferenceservice-v1beta1.openapiv3.json"


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.file, self.path, self.message)

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(document)'}: {self.message}"


def json_path(parts: Any) -> str:
    """``spec.predictor.containers[0].env``: where a problem is, as people write it."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


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
def isvc_validator() -> Any:
    import jsonschema

    from ..render import template_dir

    schema = json.loads((template_dir() / SCHEMA).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(_strict(schema))


def schema_problems(validator: Any, document: dict[str, Any], file: str) -> Iterator[Problem]:
    for error in sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        if error.validator == "additionalProperties" and error.validator_value is False:
            known = sorted(error.schema.get("properties", {}))
            for field in sorted(set(error.instance) - set(known)):
                hint = _closest(field, known)
                yield Problem(
                    file,
                    json_path([*error.absolute_path, field]),
                    f"unknown field {field!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                )
        else:
            yield Problem(file, json_path(error.absolute_path), error.message)


def _closest(field: str, known: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(field, known, n=1, cutoff=0.7)
    return matches[0] if matches else None


def builtin_problems(document: dict[str, Any], file: str, kubernetes_version: str | None) -> Iterator[Problem]:
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
    yield from schema_problems(validator, document, file)
