"""Deployment options: one table of what exists, and their precedence.

Options come from the CLI, then the ``%%deploy`` magic line (recorded in ``version.json``), then
``deploy.yaml`` at the project root (``defaults:`` and ``deployments: {NAME: {...}}``), then defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .exceptions import OptionsError

# name -> type; a value given as text is converted to that type. ``list`` options may repeat.
KNOWN_OPTIONS: dict[str, type] = {
    # serving (runtime)
    "max_batch_size": int,
    "max_latency_ms": float,
    "workers": int,
    # manifests
    "gpu": int,
    "gpu_type": str,
    "cpu": str,
    "memory": str,
    "cpu_limit": str,
    "memory_limit": str,
    "shm_size": str,
    "min_replicas": int,
    "max_replicas": int,
    "scale_metric": str,
    "scale_target": int,
    "canary": int,
    "mode": str,
    "namespace": str,
    "image": str,
    "service_account": str,
    "runtime": str,
    "storage_uri": str,
    "batcher": bool,
    "env_secret": list,
    "env_configmap": list,
    "env": list,
    "toleration": list,
    "payload_logger": str,
    "payload_logger_mode": str,
    # export
    "requirement": list,
    "artifact": list,
}


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
