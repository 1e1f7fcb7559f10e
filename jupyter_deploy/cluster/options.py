"""What a manifest may say: the deployment options of ``deploy/NAME/``, checked before anything is written.

``manifest_options(name, options)`` turns the merged options (CLI > magic line > ``deploy.yaml``) into a
``ManifestOptions``; a wrong value raises ``OptionsError`` with one line naming the flag to fix. Secrets are
only ever references (``VAR=SECRET/KEY``): a literal value where a reference is required is refused.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..exceptions import OptionsError

# Kubernetes naming rules (apimachinery/pkg/util/validation)
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ISVC_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # KServe's webhook: starts with a letter
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# the CRD's own quantity pattern (resource.Quantity): 500m, 2, 4Gi, 1e3, 1.5G
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(\d+(\.\d*)?|\.\d+)))?$")
BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# a canary takes part of the traffic, never none or all of it (0 and 100 are no split): one rule everywhere
CANARY_MIN, CANARY_MAX = 1, 99
IMAGE = re.compile(r"^[a-z0-9]+([._/:-][a-zA-Z0-9_]+)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")  # S3 and GCS bucket names
BUCKET_SCHEMES = ("s3", "gs")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# KServe's storage initializer (pkg/constants SupportedStorageURIPrefixList) plus plain local paths
STORAGE_SCHEMES = ("gs", "s3", "pvc", "file", "https", "http", "hdfs", "webhdfs", "oci", "hf")
SCALE_METRICS = ("cpu", "memory", "concurrency", "rps")
HPA_METRICS = ("cpu", "memory")
# predictor: our image (default; "custom" is its old name); stock: KServe's own runtime for the captured
# model kind (manifest_stock.py); pytorch, mlflow: a model format named by hand, with --storage-uri
RUNTIMES = ("predictor", "stock", "pytorch", "mlflow")
RUNTIME_ALIASES = {"custom": "predictor"}
# env names that hold credentials (by their words: HF_TOKEN yes, TOKENIZERS_PARALLELISM no)
SECRET_WORDS = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS", "PASSPHRASE"}
SECRET_PAIRS = {("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY"), ("AUTH", "KEY")}
GPU_RESOURCE = "nvidia.com/gpu"
# KServe's payload logger (spec.predictor.logger): the CRD's mode enum, and a URL it can post CloudEvents to
LOGGER_MODES = ("all", "request", "response")
LOGGER_URL = re.compile(r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?(/[^\s]*)?$")
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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ISVC_NAME.match(value) or len(value) > 63:
            raise ValueError(
                f"{value!r} is not a valid InferenceService name: lower-case letters, digits and '-', "
                "starting with a letter, at most 63 characters (e.g. 'churn' or 'churn-v2')"
            )
        return value

    @field_validator("gpu_type")
    @classmethod
    def _gpu_type(cls, value: str | None) -> str | None:
        if value is not None and (not LABEL_VALUE.match(value) or len(value) > 63):
            raise ValueError(f"{value!r} is not a valid label value (the {GPU_PRODUCT_LABEL} node label)")
        return value

    @field_validator("cpu", "memory", "cpu_limit", "memory_limit", "shm_size")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        problem = None if value is None else quantity_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("canary")
    @classmethod
    def _canary(cls, value: int | None) -> int | None:
        problem = None if value is None else canary_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("scale_metric")
    @classmethod
    def _scale_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in SCALE_METRICS:
            raise ValueError(f"{value!r} is not one of KServe's scale metrics: {', '.join(SCALE_METRICS)}")
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("Standard", "Knative"):
            raise ValueError(f"{value!r} is not a deployment mode: use Standard or Knative")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not DNS1123_LABEL.match(value) or len(value) > 63:
            raise ValueError(f"{value!r} is not a valid namespace (lower-case letters, digits, '-')")
        return value

    @field_validator("service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and (not DNS1123_SUBDOMAIN.match(value) or len(value) > 253):
            raise ValueError(f"{value!r} is not a valid service account name")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE.match(value):
            raise ValueError(f"{value!r} is not an image reference (e.g. registry.example.com/team/churn:v3)")
        return value

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, value: str) -> str:
        value = RUNTIME_ALIASES.get(value, value)
        if value not in RUNTIMES:
            raise ValueError(f"{value!r} is not a runtime: use {', '.join(RUNTIMES)}")
        return value

    @field_validator("storage_uri")
    @classmethod
    def _storage_uri(cls, value: str | None) -> str | None:
        if value is not None:
            problem = storage_uri_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, values: list[str]) -> list[str]:
        for item in values:
            var, sep, _ = item.partition("=")
            if not sep or not ENV_NAME.match(var):
                raise ValueError(f"{item!r} is not VAR=VALUE")
            if looks_secret(var):
                raise ValueError(
                    f"{var} looks like a credential: a literal value would be committed in the manifest; "
                    f"store it in a Secret and pass --env-secret {var}=SECRET_NAME/KEY"
                )
        return values

    @field_validator("env_secret", "env_configmap")
    @classmethod
    def _env_refs(cls, values: list[str]) -> list[str]:
        for item in values:
            parse_env_ref(item)
        return values

    @field_validator("payload_logger")
    @classmethod
    def _payload_logger(cls, value: str | None) -> str | None:
        if value is not None and not LOGGER_URL.match(value):
            raise ValueError(
                f"{value!r} is not a URL KServe's payload logger can post to: http(s)://HOST[:PORT][/PATH] "
                "(e.g. http://broker-ingress.knative-eventing.svc.cluster.local/NAMESPACE/default)"
            )
        return value

    @field_validator("payload_logger_mode")
    @classmethod
    def _payload_logger_mode(cls, value: str | None) -> str | None:
        if value is not None and value not in LOGGER_MODES:
            raise ValueError(f"{value!r} is not a payload logger mode: use {', '.join(LOGGER_MODES)}")
        return value

    @field_validator("toleration")
    @classmethod
    def _tolerations(cls, values: list[str]) -> list[str]:
        for item in values:
            parse_toleration(item)
        return values

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
    def tolerations(self) -> list[Toleration]:
        found = [parse_toleration(item) for item in self.toleration]
        if self.gpu > 0 and not any(item.key == GPU_RESOURCE for item in found):
            found.insert(0, Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule"))
        return found


def looks_secret(variable: str) -> bool:
    """Whether an environment variable's name says it holds a credential (its value needs a Secret)."""
    words = [word for word in re.split(r"[_.\-]+", variable.upper()) if word]
    return bool(SECRET_WORDS.intersection(words)) or any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


def quantity_problem(value: str) -> str | None:
    """Why ``value`` is no CPU/memory amount Kubernetes accepts (None when it is one): a quantity, not negative."""
    if not QUANTITY.match(value):
        return f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)"
    if quantity_value(value) < 0:
        return f"{value!r} is negative: Kubernetes refuses negative resource amounts"
    return None


def quantity_value(value: str) -> Decimal:
    """The number a quantity stands for (``500m`` -> 0.5, ``2Gi`` -> 2147483648); ``value`` must match QUANTITY."""
    match = re.match(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(.*)$", value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in BINARY_SUFFIXES:
        return number * BINARY_SUFFIXES[suffix]
    if suffix in DECIMAL_SUFFIXES:
        return number.scaleb(DECIMAL_SUFFIXES[suffix])
    return number * Decimal(10) ** Decimal(suffix[1:])  # e3, E-2: an exponent


def canary_problem(percent: int) -> str | None:
    """Why ``percent`` is no canary share (None when it is one): the one range rule of the package."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not CANARY_MIN <= percent <= CANARY_MAX:
        return (
            f"{percent!r} is not a canary share: give the new version's percent of the traffic, "
            f"{CANARY_MIN} to {CANARY_MAX}"
        )
    return None


def storage_uri_problem(uri: str) -> str | None:
    """Why KServe's storage initializer would refuse ``uri`` (None when it is fine)."""
    if not uri or any(char.isspace() for char in uri):
        return f"{uri!r} is not a storage URI (empty, or it has spaces)"
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return None if uri.startswith(("/", "./")) else f"{uri!r} has no scheme: use one of " + _schemes()
    if scheme not in STORAGE_SCHEMES:
        return f"storage URI scheme {scheme!r} is not supported by KServe: use one of {_schemes()}"
    host = rest.split("/", 1)[0]
    if "@" in host:
        return f"{uri!r} carries credentials; give them to KServe through a service account and Secret"
    if scheme in BUCKET_SCHEMES and not BUCKET.match(host):
        return f"{uri!r} names no bucket: write {scheme}://BUCKET/PATH"
    if scheme == "pvc" and not (DNS1123_SUBDOMAIN.match(host) and len(host) <= 253):
        return f"{uri!r} names no PersistentVolumeClaim: write pvc://CLAIM_NAME/PATH"
    if scheme in ("http", "https") and not HOST.match(host):
        return f"{uri!r} names no host: write {scheme}://HOST/PATH"
    return None


def _schemes() -> str:
    return ", ".join(f"{scheme}://" for scheme in STORAGE_SCHEMES)


def parse_env_ref(item: str) -> EnvFromRef:
    """``VAR=NAME/KEY`` (one key) or ``NAME`` (every key, as envFrom). A literal value is refused."""
    var, sep, reference = item.partition("=")
    if not sep:
        if not DNS1123_SUBDOMAIN.match(item):
            raise ValueError(f"{item!r} is not VAR=NAME/KEY or the name of a Secret/ConfigMap")
        return EnvFromRef(var=None, source=item, key=None)
    source, slash, key = reference.partition("/")
    if not ENV_NAME.match(var):
        raise ValueError(f"{var!r} is not a valid environment variable name")
    if not slash or not key or not DNS1123_SUBDOMAIN.match(source) or not re.match(r"^[-._a-zA-Z0-9]+$", key):
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
