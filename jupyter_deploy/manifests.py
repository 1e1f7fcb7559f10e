"""``deploy/NAME/``: the KServe manifests, Dockerfile and kustomize overlays of one deployment.

Everything is rendered from ``templates/manifests/`` into a temporary directory beside ``deploy/NAME/``,
validated there, and only then swapped into place: a bad option or an invalid result leaves the existing
files untouched. Output is deterministic (no timestamps, fixed key order), so regenerating with the same
inputs gives byte-identical files and ``git diff`` shows only real changes. Files that other parts of
jupyter-deploy add to ``deploy/NAME/`` (``retrain-cronjob.yaml``) are kept, and so are their entries in
``kustomization.yaml``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import __version__
from .exceptions import NotFoundError, ValidationError
from .manifest_options import GPU_PRODUCT_LABEL, GPU_RESOURCE, ManifestOptions, manifest_options
from .models import VersionInfo

PORT = 8080
UID = 1000
PYTHON_VERSION = "3.12"
CUDA_VERSION = "12.6"
CUDA_BASE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"  # ships Python 3.12
TORCH_INDEX = "https://download.pytorch.org/whl"
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
ISVC_FILE = "inferenceservice.yaml"
KUSTOMIZATION = "kustomization.yaml"
BASE = "base"  # kustomize refuses overlays nested inside their base, so the base is a sibling of overlays/
DOCKERIGNORE = "Dockerfile.dockerignore"  # the name BuildKit reads for -f deploy/NAME/Dockerfile
# generated file -> template under templates/manifests/
GENERATED: dict[str, str] = {
    f"{BASE}/{ISVC_FILE}": "inferenceservice.yaml.j2",
    f"{BASE}/{KUSTOMIZATION}": "kustomization.yaml.j2",
    "Dockerfile": "Dockerfile.j2",
    DOCKERIGNORE: "dockerignore.j2",
    "overlays/dev/kustomization.yaml": "overlays/dev/kustomization.yaml.j2",
    "overlays/prod/kustomization.yaml": "overlays/prod/kustomization.yaml.j2",
}
PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+=-]*$")


def deploy_dir(root: str | Path, name: str) -> Path:
    """``deploy/NAME/``: Dockerfile, ``base/`` (the kustomize base) and ``overlays/{dev,prod}/``."""
    return Path(root) / "deploy" / name


def base_dir(root: str | Path, name: str) -> Path:
    """``deploy/NAME/base/``: ``inferenceservice.yaml``, ``kustomization.yaml`` and added resources."""
    return deploy_dir(root, name) / BASE


def isvc_path(root: str | Path, name: str) -> Path:
    """``deploy/NAME/base/inferenceservice.yaml``: what ``apply`` sends."""
    return base_dir(root, name) / ISVC_FILE


# -- rendering ------------------------------------------------------------------------------------------
def yaml_scalar(value: Any) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back as the same string, else double-quoted."""
    import yaml

    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if PLAIN_SCALAR.match(text) and not text.endswith(":") and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)


def _environment() -> Any:
    """The shared Jinja environment (``render.environment()``) with this module's YAML filter added."""
    from .render import environment

    env = environment().overlay()
    env.filters["yq"] = yaml_scalar
    return env


def _image(options: ManifestOptions, info: VersionInfo) -> tuple[str, str, str | None, str | None]:
    """(full reference, repository, tag, digest); without ``--image``: NAME:vN, built from the Dockerfile."""
    reference = options.image or f"{info.name}:{info.version}"
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return reference, repository, None, digest
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = reference.rsplit(":", 1)
        return reference, repository, tag, None
    return f"{reference}:{info.version}", reference, info.version, None


def _uses_torch(info: VersionInfo) -> bool:
    names = {re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower() for requirement in info.requirements}
    return bool(names & set(TORCH_PACKAGES))


def render_context(options: ManifestOptions, info: VersionInfo, resources: list[str]) -> dict[str, Any]:
    image, repository, tag, digest = _image(options, info)
    custom = options.runtime == "custom"
    requests = [("cpu", options.cpu), ("memory", options.memory)]
    limits = [("cpu", options.cpu_limit), ("memory", options.memory_limit or options.memory)]
    if options.gpu:
        limits.append((GPU_RESOURCE, str(options.gpu)))
    env: list[dict[str, Any]] = [{"name": var, "value": value} for var, value in options.plain_env]
    env_from: list[tuple[str, str]] = []
    for kind, refs in (("secret", options.secret_env), ("configMap", options.configmap_env)):
        for ref in refs:
            if ref.var is None:
                env_from.append((f"{kind}Ref", ref.source))
            else:
                env.append(
                    {
                        "name": ref.var,
                        "value": None,
                        "ref_kind": f"{kind}KeyRef",
                        "source": ref.source,
                        "key": ref.key,
                    }
                )
    batcher: list[tuple[str, int]] = []
    if options.batcher:
        if options.max_batch_size:
            batcher.append(("maxBatchSize", options.max_batch_size))
        if options.max_latency_ms:
            batcher.append(("maxLatency", max(1, round(options.max_latency_ms))))
    annotations = [("serving.kserve.io/deploymentMode", options.mode)]
    if options.mode == "Knative" and options.metric in ("cpu", "memory"):
        annotations.append(("autoscaling.knative.dev/class", "hpa.autoscaling.knative.dev"))
    annotations.append(("jupyter-deploy/content-hash", info.content_hash))
    if info.notebook:
        annotations.append(("jupyter-deploy/notebook", info.notebook))
    torch = _uses_torch(info)
    shm_size = options.shm_size or ("1Gi" if options.gpu and torch else None)
    return {
        "name": options.name,
        "version": info.version,
        "source": info.notebook or f"deployments/{info.name}/{info.version}",
        "o": options,
        "custom": custom,
        "image": image,
        "image_repo": repository if custom else None,
        "image_tag": tag,
        "image_digest": digest,
        "labels": [
            ("app.kubernetes.io/name", options.name),
            ("app.kubernetes.io/version", info.version),
            ("app.kubernetes.io/managed-by", "jupyter-deploy"),
        ],
        "annotations": annotations,
        "batcher": batcher or ([("maxBatchSize", 32)] if options.batcher else []),
        "tolerations": options.tolerations,
        "gpu_product_label": GPU_PRODUCT_LABEL,
        "env": env,
        "env_from": env_from,
        "container_resources": [
            ("requests", [(key, value) for key, value in requests if value]),
            ("limits", [(key, value) for key, value in limits if value]),
        ],
        "protocol": "v2" if options.runtime == "mlflow" else None,
        "shm_size": shm_size,
        "port": PORT,
        "uid": UID,
        "gpu": options.gpu > 0,
        "python_version": PYTHON_VERSION,
        "cuda_version": CUDA_VERSION,
        "cuda_base": CUDA_BASE,
        "torch_index": (
            f"{TORCH_INDEX}/cu{CUDA_VERSION.replace('.', '')}"
            if options.gpu
            else (f"{TORCH_INDEX}/cpu" if torch else None)
        ),
        "tool_version": __version__,
        "version_dir": f"deployments/{info.name}/{info.version}",
        "resources": resources,
        "dev_min_replicas": 0 if options.mode == "Knative" else 1,
    }


def render_files(options: ManifestOptions, info: VersionInfo, resources: list[str]) -> dict[str, str]:
    """Relative path -> text of every generated file."""
    env = _environment()
    context = render_context(options, info, resources)
    files = {}
    for relative, template in GENERATED.items():
        files[relative] = env.get_template(f"manifests/{template}").render(**context)
    return files


# -- kustomization resources ----------------------------------------------------------------------------
def _read_resources(kustomization: Path) -> list[str]:
    import yaml

    if not kustomization.is_file():
        return []
    data = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
    return [str(item) for item in data.get("resources") or []]


def _merged_resources(existing: list[str], directory: Path) -> list[str]:
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
    existing = _read_resources(kustomization)
    if filename in existing:
        return False
    resources = _merged_resources([*existing, filename], deploy_dir)
    text = (
        _environment()
        .get_template("manifests/kustomization.yaml.j2")
        .render(name=deploy_dir.parent.name, resources=resources)
    )
    _write_atomic(kustomization, text)
    return True


def _write_atomic(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
        stream.write(text)
    os.replace(temp, path)


# -- writing deploy/NAME/ ---------------------------------------------------------------------------------
def _same_tree(first: Path, second: Path) -> bool:
    def listing(directory: Path) -> dict[str, bytes]:
        return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}

    return first.is_dir() and listing(first) == listing(second)


def _swap(stage: Path, target: Path) -> None:
    """Put ``stage`` where ``target`` is: rename the old one aside, rename the new one in, drop the old."""
    if not target.exists():
        os.rename(stage, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    backup.rmdir()
    os.rename(target, backup)
    try:
        os.rename(stage, target)
    except OSError:
        os.rename(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def generate(root: str | Path, info: VersionInfo, options: ManifestOptions) -> dict[str, Any]:
    """Render, validate and atomically write ``deploy/NAME/``; returns what was written."""
    from .validate import validate_path

    target = deploy_dir(root, options.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    resources = _merged_resources(_read_resources(target / BASE / KUSTOMIZATION), target / BASE)
    files = render_files(options, info, resources)
    stage = Path(tempfile.mkdtemp(prefix=f".{options.name}-new-", dir=target.parent))
    try:
        if target.is_dir():
            shutil.copytree(target, stage, dirs_exist_ok=True, symlinks=True)
        for relative, text in files.items():
            path = stage / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        # only what is generated here: files others added (retrain-cronjob.yaml) are theirs to validate
        problems = [
            problem for relative in files if relative.endswith(".yaml") for problem in validate_path(stage / relative)
        ]
        if problems:
            first = problems[0]
            raise ValidationError(
                f"generated manifests do not validate ({len(problems)} problem(s)); first: "
                f"{Path(first.file).relative_to(stage)}: {first.path}: {first.message}",
                [problem.as_tuple() for problem in problems],
            )
        changed = not _same_tree(target, stage)
        if changed:
            _swap(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return {
        "name": options.name,
        "version": info.version,
        "directory": str(target),
        "files": [str(target / relative) for relative in files],
        "changed": changed,
    }


def write_manifests(
    root: str | Path, spec: str, cli_options: dict[str, Any] | None = None, commit: bool = False
) -> dict[str, Any]:
    """``jupyter-deploy manifests NAME[@vN]``: options resolved CLI > magic line > deploy.yaml.

    Returns ``{name, version, directory, files, changed, commit}``; ``commit`` is the new commit's id
    when ``commit=True`` and something was staged, else None.
    """
    from .options import resolve_options
    from .versions import resolve

    info, version_dir = resolve(root, spec)
    merged = resolve_options(root, info.name, recorded=info.options, cli=cli_options)
    options = manifest_options(info.name, merged)
    result = generate(root, info, options)
    result["commit"] = None
    if commit:
        from .gitops import commit_deployment

        result["commit"] = commit_deployment(root, info, deploy_dir(root, info.name), version_dir)
    return result


def preview_manifests(root: str | Path, spec: str, cli_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``write_manifests`` would write for ``NAME[@vN]``, rendered in memory: ``{name, version, files}``
    with ``files`` mapping ``deploy/NAME/...`` to its text. Nothing is written or validated."""
    from .options import resolve_options
    from .versions import resolve

    info, _ = resolve(root, spec)
    options = manifest_options(info.name, resolve_options(root, info.name, recorded=info.options, cli=cli_options))
    base = base_dir(root, info.name)
    files = render_files(options, info, _merged_resources(_read_resources(base / KUSTOMIZATION), base))
    return {
        "name": info.name,
        "version": info.version,
        "files": {f"deploy/{info.name}/{relative}": text for relative, text in files.items()},
    }
