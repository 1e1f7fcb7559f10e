"""The project: its root (``project_root``), ``deploy.yaml``, the one option table (``OPTIONS``) and precedence.

Options come from the CLI, then the ``%%deploy`` magic line (recorded in ``version.json``), then
``deploy.yaml`` at the project root (``defaults:`` and ``deployments: {NAME: {...}}``), then defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import OptionsError


@dataclass(frozen=True)
class Option:
    """One deployment option: the type a value given as text converts to (``list`` options repeat), and the
    help of its ``jupyter-deploy manifests`` flag (None: not a manifests flag)."""

    kind: type
    manifest_help: str | None = None


# every option of the CLI, the magic line and deploy.yaml; ``manifests --help`` lists its flags in this order.
# ``ManifestOptions`` (cluster/options.py) has one field per option with a ``manifest_help``.
OPTIONS: dict[str, Option] = {
    "gpu": Option(int, "number of NVIDIA GPUs per replica (nvidia.com/gpu limit)"),
    "gpu_type": Option(str, "GPU product: node selector on the nvidia.com/gpu.product label"),
    "cpu": Option(str, "CPU request, a Kubernetes quantity: 500m, 2 (default 1)"),
    "memory": Option(str, "memory request: 512Mi, 4Gi (default 2Gi); also the memory limit unless --memory-limit"),
    "cpu_limit": Option(str, "CPU limit, at least the request (default none)"),
    "memory_limit": Option(str, "memory limit, at least the request"),
    "shm_size": Option(str, "size of the /dev/shm memory volume (default 1Gi for GPU torch deployments)"),
    "min_replicas": Option(int, "minimum replicas (0 scales to zero, Knative only)"),
    "max_replicas": Option(int, "maximum replicas"),
    "scale_metric": Option(str, "cpu or memory (Standard); concurrency or rps (Knative)"),
    "scale_target": Option(int, "target value of the scale metric (a percentage for cpu)"),
    "canary": Option(
        int,
        "P (1-99): send P%% of the traffic to NAME@vN and keep the rest on the version deploy/NAME/ serves "
        "now. Standard mode writes spec.canary (vN as a named predictor beside the stable one; KServe accepts "
        "it only with --runtime stock), Knative mode canaryTrafficPercent. End it with --promote",
    ),
    "mode": Option(str, "deployment mode: Standard (default) or Knative"),
    "namespace": Option(str, "namespace (default: default; the dev overlay adds -dev)"),
    "image": Option(str, "predictor image (default NAME:vN, built from deploy/NAME/Dockerfile)"),
    "service_account": Option(str, "service account of the predictor pods"),
    "runtime": Option(
        str,
        "predictor (default): the generated predictor image; stock: KServe's own runtime for the captured "
        "model (huggingface for a transformers save_pretrained model, xgboost, lightgbm), its files laid out "
        "in deploy/NAME/model/ to upload to --storage-uri (the notebook's predict code does not run there); "
        "pytorch, mlflow: that model format, files of your own",
    ),
    "storage_uri": Option(
        str,
        "where KServe downloads the model from, for --runtime stock/pytorch/mlflow: s3://BUCKET/PATH, "
        "gs://BUCKET/PATH, pvc://CLAIM/PATH, https://HOST/FILE, hf://ORG/MODEL",
    ),
    "batcher": Option(bool, "true: put KServe's batcher in front of the predictor"),
    # also serving options (serve --max-batch-size)
    "max_batch_size": Option(int, "batcher: largest batch"),
    "max_latency_ms": Option(float, "batcher: longest wait for a batch, in milliseconds"),
    "env": Option(list, "VAR=VALUE (plain values only; repeat)"),
    "env_secret": Option(list, "VAR=SECRET/KEY, or SECRET for all its keys (repeat)"),
    "env_configmap": Option(list, "VAR=CONFIGMAP/KEY, or CONFIGMAP for all its keys (repeat)"),
    "toleration": Option(list, "KEY[=VALUE]:EFFECT (repeat); GPU deployments tolerate nvidia.com/gpu already"),
    "payload_logger": Option(str, "URL that KServe's payload logger sends requests/responses to (CloudEvents)"),
    "payload_logger_mode": Option(str, "what the payload logger sends: all (default), request or response"),
    "startup_timeout": Option(
        str,
        "how long the model may take to load before Kubernetes restarts the container: 90s, 10m, 1h30m "
        "(default 10m; the startupProbe on model readiness holds the liveness probe back until then)",
    ),
    # serving only
    "workers": Option(int),
    # export
    "requirement": Option(list),
    "artifact": Option(list),
}
KNOWN_OPTIONS: dict[str, type] = {name: option.kind for name, option in OPTIONS.items()}
MANIFEST_OPTIONS: dict[str, Option] = {name: option for name, option in OPTIONS.items() if option.manifest_help}


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def convert(name: str, value: Any) -> Any:
    """Convert one option value to its declared type, or raise ``OptionsError`` naming the option."""
    key = name.replace("-", "_")
    if key not in KNOWN_OPTIONS:
        known = ", ".join(option_flag(option) for option in sorted(KNOWN_OPTIONS))
        raise OptionsError(f"unknown option {option_flag(key)}; known options: {known}", key)
    kind = KNOWN_OPTIONS[key]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return text in {"true", "1", "yes"}
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(str(value))
        if kind is float:
            return float(value)
        if kind is list:
            return [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]
        return str(value)
    except ValueError:
        raise OptionsError(
            f"{option_flag(key)} takes {'an integer' if kind is int else 'a ' + kind.__name__}, not {value!r}",
            key,
        ) from None


def parse_option_tokens(tokens: list[str]) -> dict[str, Any]:
    """``["--gpu", "1", "--batcher", "--env-secret", "A=s/k"]`` -> ``{"gpu": 1, "batcher": True, ...}``."""
    options: dict[str, Any] = {}
    position = 0
    while position < len(tokens):
        token = tokens[position]
        if not token.startswith("--"):
            raise OptionsError(f"unexpected {token!r}: options look like --name VALUE")
        key, _, inline = token[2:].partition("=")
        key = key.replace("-", "_")
        if key not in KNOWN_OPTIONS:
            convert(key, None)  # raises the 'unknown option' error
        if inline:
            value: Any = inline
        elif KNOWN_OPTIONS[key] is bool and (position + 1 >= len(tokens) or tokens[position + 1].startswith("--")):
            value = True
        else:
            position += 1
            if position >= len(tokens):
                raise OptionsError(f"{option_flag(key)} needs a value", key)
            value = tokens[position]
        converted = convert(key, value)
        if KNOWN_OPTIONS[key] is list:
            options[key] = [*options.get(key, []), *converted]
        else:
            options[key] = converted
        position += 1
    return options


def read_project_file(root: str | Path) -> dict[str, Any]:
    """``deploy.yaml`` checked for shape: ``{defaults: {...}, deployments: {NAME: {...}}}`` (empty if none)."""
    import yaml

    path = Path(root) / "deploy.yaml"
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise OptionsError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise OptionsError(f"{path}: expected a mapping with 'defaults' and 'deployments'")
    defaults, deployments = data.get("defaults") or {}, data.get("deployments") or {}
    if not isinstance(defaults, dict):
        raise OptionsError(f"{path}: 'defaults' must be a mapping of options (gpu: 1, ...)", "defaults")
    if not isinstance(deployments, dict):
        raise OptionsError(f"{path}: 'deployments' must map deployment names to their options", "deployments")
    for name, options in deployments.items():
        if options is not None and not isinstance(options, dict):
            raise OptionsError(f"{path}: deployments.{name} must be a mapping of options (gpu: 1, ...)", str(name))
    return {**data, "defaults": defaults, "deployments": deployments}


def project_options(root: str | Path, name: str) -> dict[str, Any]:
    """Options for deployment ``name`` from ``deploy.yaml`` at the project root (empty if none)."""
    data = read_project_file(root)
    merged = dict(data.get("defaults") or {})
    merged.update((data.get("deployments") or {}).get(name) or {})
    return {str(key).replace("-", "_"): convert(str(key), value) for key, value in merged.items()}


def resolve_options(
    root: str | Path, name: str, recorded: dict[str, Any] | None = None, cli: dict[str, Any] | None = None
) -> dict[str, Any]:
    """CLI over the magic line (``recorded``) over ``deploy.yaml``; ``None`` CLI values are ignored."""
    merged = project_options(root, name)
    merged.update(recorded or {})
    merged.update({key: value for key, value in (cli or {}).items() if value is not None})
    return merged


ROOT_VARIABLE = "JD_PROJECT_ROOT"
"""Set by the runners (``export --execute``, retraining) and by ``%load_ext``: the root a kernel works in."""


def project_root(given: str | Path | None = None, base: str | Path | None = None) -> Path:
    """The project root (holding ``deployments/`` and ``deploy/``), found one way for every front door.

    ``given`` (``--root``, the server extension's ``project_root``) wins; relative to ``base`` when there is
    one (the Jupyter server's root directory, which is also the fallback there). Without a base (the CLI,
    the magics): the root a runner or the kernel recorded in ``JD_PROJECT_ROOT``, else the working directory.
    """
    if base is not None:
        return (Path(base) / Path(given).expanduser()).resolve() if given else Path(base)
    if given:
        return Path(given).expanduser()
    return Path(os.environ.get(ROOT_VARIABLE) or os.getcwd())
