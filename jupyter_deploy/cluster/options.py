"""What a manifest may say: the deployment options of ``deploy/NAME/``, checked before anything is written.

``manifest_options(name, options)`` turns the merged options (CLI > magic line > ``deploy.yaml``) into a
``ManifestOptions``; a wrong value raises ``OptionsError`` with one line naming the flag to fix. Secrets are
only ever references (``VAR=SECRET/KEY``): a literal value where a reference is required is refused. The
rules for single values (names, quantities, canary share, URIs, image references) live in ``rules``; which options
exist, their types and flags, in ``jupyter_deploy.project.OPTIONS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ..exceptions import OptionsError
from .rules import (
    DNS1123_SUBDOMAIN,
    ENV_NAME,
    PAYLOAD_LOGGER,
    canary_problem,
    duration_problem,
    duration_seconds,
    image_problem,
    is_deployment_name,
    is_dns_label,
    is_dns_subdomain,
    is_label_value,
    looks_secret,
    quantity_problem,
    quantity_value,
    storage_uri_problem,
    uri_problem,
)

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
SCALE_METRICS = ("cpu", "memory", "concurrency", "rps")
HPA_METRICS = ("cpu", "memory")
MODES = ("Standard", "Knative")
# predictor: our image (default; "custom" is its old name); stock: KServe's own runtime for the captured
# model kind (manifest_stock.py); pytorch, mlflow: a model format named by hand, with --storage-uri
RUNTIMES = ("predictor", "stock", "pytorch", "mlflow")
RUNTIME_ALIASES = {"custom": "predictor"}
GPU_RESOURCE = "nvidia.com/gpu"
# KServe's payload logger (spec.predictor.logger): the CRD's mode enum (its URL: rules.PAYLOAD_LOGGER)
LOGGER_MODES = ("all", "request", "response")
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by NVIDIA GPU feature discovery


class EnvFromRef(BaseModel):
    """``VAR`` from key ``key`` of Secret/ConfigMap ``source``; without ``var``, every key of ``source``."""

    model_config = ConfigDict(frozen=True)

    var: str | None
    source: str
    key: str | None


class Toleration(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    operator: Literal["Exists", "Equal"]
    value: str | None = None
    effect: str


def parse_env_ref(item: str) -> EnvFromRef:
    """``VAR=NAME/KEY`` (one key) or ``NAME`` (every key, as envFrom). A literal value is refused."""
    var, sep, reference = item.partition("=")
    if not sep:
        if not DNS1123_SUBDOMAIN.fullmatch(item):
            raise ValueError(f"{item!r} is not VAR=NAME/KEY or the name of a Secret/ConfigMap")
        return EnvFromRef(var=None, source=item, key=None)
    source, slash, key = reference.partition("/")
    if not ENV_NAME.fullmatch(var):
        raise ValueError(f"{var!r} is not a valid environment variable name")
    if not slash or not key or not DNS1123_SUBDOMAIN.fullmatch(source) or not re.fullmatch(r"[-._a-zA-Z0-9]+", key):
        raise ValueError(
            f"{var}=... is not a reference: write {var}=NAME/KEY (the value itself never goes into a manifest)"
        )
    return EnvFromRef(var=var, source=source, key=key)


def parse_toleration(item: str) -> Toleration:
    """``KEY[=VALUE]:EFFECT`` as in ``kubectl taint`` (``nvidia.com/gpu:NoSchedule``)."""
    spec, sep, effect = item.rpartition(":")
    if not sep or effect not in TAINT_EFFECTS:
        raise ValueError(f"{item!r} is not KEY[=VALUE]:EFFECT with EFFECT one of {', '.join(TAINT_EFFECTS)}")
    key, equals, value = spec.partition("=")
    if not key:
        raise ValueError(f"{item!r} has no taint key")
    if equals:
        return Toleration(key=key, operator="Equal", value=value, effect=effect)
    return Toleration(key=key, operator="Exists", effect=effect)


def _env_problem(item: str) -> str | None:
    var, sep, _ = item.partition("=")
    if not sep or not ENV_NAME.fullmatch(var):
        return f"{item!r} is not VAR=VALUE"
    if looks_secret(var):
        return (
            f"{var} looks like a credential: a literal value would be committed in the manifest; "
            f"store it in a Secret and pass --env-secret {var}=SECRET_NAME/KEY"
        )
    return None


def _parses(parse: Callable[[str], Any]) -> Callable[[str], str | None]:
    """A check from a parser that raises ``ValueError`` with the problem."""

    def check(item: str) -> None:
        parse(item)

    return check


def _holds(test: Callable[[str], Any], message: str) -> Callable[[str], str | None]:
    """A check from a predicate; ``message`` formats ``{value!r}``."""
    return lambda value: None if test(value) else message.format(value=value)


# field -> why one value (one item of a list option) is wrong, None when it is right
_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "name": _holds(
        is_deployment_name,
        "{value!r} is not a valid InferenceService name: lower-case letters, digits and '-', "
        "starting with a letter, at most 63 characters (e.g. 'churn' or 'churn-v2')",
    ),
    "gpu_type": _holds(is_label_value, f"{{value!r}} is not a valid label value (the {GPU_PRODUCT_LABEL} node label)"),
    **dict.fromkeys(("cpu", "memory", "cpu_limit", "memory_limit", "shm_size"), quantity_problem),
    "canary": canary_problem,
    "scale_metric": _holds(
        SCALE_METRICS.__contains__, f"{{value!r}} is not one of KServe's scale metrics: {', '.join(SCALE_METRICS)}"
    ),
    "mode": _holds(MODES.__contains__, "{value!r} is not a deployment mode: use Standard or Knative"),
    "namespace": _holds(is_dns_label, "{value!r} is not a valid namespace (lower-case letters, digits, '-')"),
    "service_account": _holds(is_dns_subdomain, "{value!r} is not a valid service account name"),
    "image": image_problem,
    "runtime": _holds(RUNTIMES.__contains__, f"{{value!r}} is not a runtime: use {', '.join(RUNTIMES)}"),
    "storage_uri": storage_uri_problem,
    "env": _env_problem,
    "env_secret": _parses(parse_env_ref),
    "env_configmap": _parses(parse_env_ref),
    "toleration": _parses(parse_toleration),
    "payload_logger": lambda value: uri_problem(value, PAYLOAD_LOGGER),
    "payload_logger_mode": _holds(
        LOGGER_MODES.__contains__, f"{{value!r}} is not a payload logger mode: use {', '.join(LOGGER_MODES)}"
    ),
    "startup_timeout": duration_problem,
}


class ManifestOptions(BaseModel):
    """Every option a manifest uses, validated. Field names are the option names (``--min-replicas``...)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    name: str
    gpu: int = Field(default=0, ge=0)
    gpu_type: str | None = None
    cpu: str = "1"
    memory: str = "2Gi"
    cpu_limit: str | None = None
    memory_limit: str | None = None
    shm_size: str | None = None
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=0)
    scale_metric: str | None = None
    scale_target: int | None = Field(default=None, ge=1)
    canary: int | None = None
    mode: str = "Standard"
    namespace: str = "default"
    image: str | None = None
    service_account: str | None = None
    runtime: str = "predictor"
    storage_uri: str | None = None
    batcher: bool = False
    max_batch_size: int | None = Field(default=None, ge=1)
    max_latency_ms: float | None = Field(default=None, gt=0)
    env: list[str] = Field(default_factory=list)
    env_secret: list[str] = Field(default_factory=list)
    env_configmap: list[str] = Field(default_factory=list)
    toleration: list[str] = Field(default_factory=list)
    payload_logger: str | None = None
    payload_logger_mode: str | None = None
    startup_timeout: str = "10m"

    @field_validator("runtime", mode="before")
    @classmethod
    def _runtime_alias(cls, value: Any) -> Any:
        return RUNTIME_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator(*_CHECKS)
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> Any:
        check = _CHECKS[str(info.field_name)]
        for item in value if isinstance(value, list) else [value]:
            problem = None if item is None else check(item)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _together(self) -> ManifestOptions:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"--min-replicas ({self.min_replicas}) is greater than --max-replicas ({self.max_replicas})"
            )
        if self.mode == "Standard" and self.min_replicas == 0:
            raise ValueError("--min-replicas 0 (scale to zero) needs --mode Knative")
        if self.mode == "Standard" and self.scale_metric not in (None, *HPA_METRICS):
            raise ValueError(
                f"--scale-metric {self.scale_metric} needs --mode Knative (Standard mode scales on cpu or memory)"
            )
        if self.scale_target is not None and self.metric == "cpu" and self.scale_target > 100:
            raise ValueError(f"--scale-target {self.scale_target}: the cpu target is a percentage (1-100)")
        for flag, limit, request in (
            ("--cpu-limit", self.cpu_limit, self.cpu),
            ("--memory-limit", self.memory_limit, self.memory),
        ):
            if limit is not None and quantity_value(limit) < quantity_value(request):
                raise ValueError(
                    f"{flag} {limit} is below the request {flag.removesuffix('-limit')} {request}: "
                    "Kubernetes refuses a limit smaller than its request"
                )
        if self.runtime == "predictor" and self.storage_uri:
            raise ValueError(
                "--storage-uri is only used with KServe's own runtimes: add --runtime stock (or pytorch, mlflow)"
            )
        if self.runtime != "predictor" and not self.storage_uri:
            raise ValueError(
                f"--runtime {self.runtime} needs --storage-uri: where you upload the model files for KServe"
            )
        if self.payload_logger_mode and not self.payload_logger:
            raise ValueError("--payload-logger-mode needs --payload-logger URL: where KServe sends the payloads")
        if self.runtime != "predictor" and self.shm_size:
            raise ValueError("--shm-size sizes the predictor image's /dev/shm; KServe's runtimes mount their own")
        return self

    # -- derived values the templates use -------------------------------------------------------------
    @property
    def metric(self) -> str:
        return self.scale_metric or ("cpu" if self.mode == "Standard" else "concurrency")

    @property
    def secret_env(self) -> list[EnvFromRef]:
        return [parse_env_ref(item) for item in self.env_secret]

    @property
    def configmap_env(self) -> list[EnvFromRef]:
        return [parse_env_ref(item) for item in self.env_configmap]

    @property
    def plain_env(self) -> list[tuple[str, str]]:
        return [(var, value) for var, _, value in (item.partition("=") for item in self.env)]

    @property
    def startup_seconds(self) -> int:
        return duration_seconds(self.startup_timeout)

    @property
    def tolerations(self) -> list[Toleration]:
        found = [parse_toleration(item) for item in self.toleration]
        if self.gpu > 0 and not any(item.key == GPU_RESOURCE for item in found):
            found.insert(0, Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule"))
        return found


def manifest_options(name: str, options: dict[str, Any]) -> ManifestOptions:
    """Validate the merged options of deployment ``name``; ``OptionsError`` names the flag to fix."""
    values = {key.replace("-", "_"): value for key, value in options.items() if value is not None}
    try:
        return ManifestOptions(name=name, **values)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        message = str(first["msg"]).removeprefix("Value error, ")
        if message.startswith("Input should be") and field:
            message = f"{values.get(field)!r} should be" + message.removeprefix("Input should be")
        if first["type"] in {"int_type", "int_from_float", "int_parsing", "bool_type", "string_type"}:
            message = f"{values.get(field or '')!r} is not {_kind(first['type'])}"
        if field == "name":
            raise OptionsError(message, "name") from None
        if field is None:
            raise OptionsError(message) from None
        raise OptionsError(f"--{field.replace('_', '-')}: {message}", field) from None


def _kind(error_type: str) -> str:
    return {"bool_type": "true or false", "string_type": "text"}.get(error_type, "a whole number")
