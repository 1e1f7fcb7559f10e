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

from .. import __version__
from ..exceptions import NotFoundError, ValidationError
from ..records import VersionInfo
from .canary import CANARY_ANNOTATION, STABLE_ANNOTATION
from .options import GPU_PRODUCT_LABEL, GPU_RESOURCE, ManifestOptions
from .plan import Rollout
from .stock import MODEL_DIR, UPLOAD_NOTE, StockModel

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
IMAGE_FILES = ("Dockerfile", DOCKERIGNORE)  # only the predictor image is built from deploy/NAME/
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
    from ..render import environment

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


def predictor_context(
    options: ManifestOptions,
    info: VersionInfo,
    stock: StockModel | None,
    storage_uri: str | None,
    name: str | None = None,
    autoscaled: bool = True,
    canary_percent: int | None = None,
) -> dict[str, Any]:
    """The fields of one predictor (``_isvc_predictor.yaml.j2``) serving ``info``."""
    custom = options.runtime == "predictor"
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
    # KServe's runtimes mount their own /dev/shm (a second mount at the same path is refused)
    shm_size = options.shm_size or ("1Gi" if custom and options.gpu and _uses_torch(info) else None)
    return {
        "name": name,
        "autoscaled": autoscaled,
        "min_replicas": options.min_replicas,
        "max_replicas": options.max_replicas,
        "scale_metric": options.scale_metric,
        "scale_target": options.scale_target,
        "canary_traffic_percent": canary_percent,
        "service_account": options.service_account,
        "batcher": batcher or ([("maxBatchSize", 32)] if options.batcher else []),
        "gpu_type": options.gpu_type,
        "gpu_product_label": GPU_PRODUCT_LABEL,
        "tolerations": options.tolerations,
        "custom": custom,
        "image": _image(options, info)[0],
        "model_format": stock.model_format if stock else options.runtime,
        # the CRD requires a container name in a canary's model (not in spec.predictor's, where KServe
        # refuses one): the name of KServe's serving container
        "container_name": None if autoscaled else "kserve-container",
        "model_args": list(stock.args) if stock else [],
        "protocol": "v2" if options.runtime == "mlflow" else None,
        "storage_uri": storage_uri,
        "env": env,
        "env_from": env_from,
        "container_resources": [
            ("requests", [(key, value) for key, value in requests if value]),
            ("limits", [(key, value) for key, value in limits if value]),
        ],
        "shm_size": shm_size,
        # KServe's payload logger: what the local --log-payloads is on the cluster
        "logger": [("mode", options.payload_logger_mode or "all"), ("url", options.payload_logger)]
        if options.payload_logger
        else [],
        "port": PORT,
        "uid": UID,
    }


def render_context(options: ManifestOptions, rollout: Rollout, resources: list[str]) -> dict[str, Any]:
    info = rollout.info
    image, repository, tag, digest = _image(options, info)
    custom = options.runtime == "predictor"
    annotations = [("serving.kserve.io/deploymentMode", options.mode)]
    if options.mode == "Knative" and options.metric in ("cpu", "memory"):
        annotations.append(("autoscaling.knative.dev/class", "hpa.autoscaling.knative.dev"))
    if rollout.canary is not None and rollout.stable is not None:
        annotations.append((STABLE_ANNOTATION, rollout.stable.version))
        annotations.append((CANARY_ANNOTATION, info.version))
    annotations.append(("jupyter-deploy/content-hash", info.content_hash))
    if info.notebook:
        annotations.append(("jupyter-deploy/notebook", info.notebook))
    canaries: list[tuple[int, dict[str, Any]]] = []
    if rollout.split:
        assert rollout.stable is not None and rollout.canary is not None
        predictor = predictor_context(options, rollout.stable, rollout.stable_stock, rollout.stable_storage_uri)
        # KServe runs a canary with fixed replicas: autoscaling fields are refused there
        canaries.append(
            (
                rollout.canary,
                predictor_context(options, info, rollout.stock, options.storage_uri, info.version, autoscaled=False),
            )
        )
    else:
        predictor = predictor_context(options, info, rollout.stock, options.storage_uri, canary_percent=rollout.canary)
    torch = _uses_torch(info)
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
        "predictor": predictor,
        "canaries": canaries,
        "knative_canary": rollout.canary is not None and not rollout.split,
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


def render_files(options: ManifestOptions, rollout: Rollout, resources: list[str]) -> dict[str, str]:
    """Relative path -> text of every generated file (no image files for KServe's own runtimes)."""
    env = _environment()
    context = render_context(options, rollout, resources)
    files = {}
    for relative, template in GENERATED.items():
        if relative in IMAGE_FILES and options.runtime != "predictor":
            continue
        files[relative] = env.get_template(f"manifests/{template}").render(**context)
    if rollout.stock is not None and options.storage_uri:
        files[UPLOAD_NOTE] = rollout.stock.upload_note(options.name, rollout.info.version, options.storage_uri)
    return files


def copied_files(rollout: Rollout) -> dict[str, Path]:
    """Relative path -> artifact file copied into ``deploy/NAME/model/`` (stock runtimes)."""
    return rollout.stock.layout() if rollout.stock is not None else {}


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


def _skip_model_dir(target: Path) -> Any:
    """copytree's ``ignore``: the top-level ``model/`` (stock model files, copied afresh) is not copied."""
    return lambda directory, names: [MODEL_DIR] if Path(directory) == target and MODEL_DIR in names else []


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


def generate(
    root: str | Path, info: VersionInfo, options: ManifestOptions, rollout: Rollout | None = None
) -> dict[str, Any]:
    """Render, validate and atomically write ``deploy/NAME/``; returns what was written."""
    from .validate import validate_path

    rollout = rollout or Rollout(info, Path(root) / "deployments" / info.name / info.version)
    target = deploy_dir(root, options.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    resources = _merged_resources(_read_resources(target / BASE / KUSTOMIZATION), target / BASE)
    files = render_files(options, rollout, resources)
    copies = copied_files(rollout)
    stage = Path(tempfile.mkdtemp(prefix=f".{options.name}-new-", dir=target.parent))
    try:
        if target.is_dir():
            shutil.copytree(target, stage, dirs_exist_ok=True, symlinks=True, ignore=_skip_model_dir(target))
        # what an earlier run generated and this one does not (a runtime switch) goes; others' files stay
        for relative in [*GENERATED, UPLOAD_NOTE]:
            if relative not in files:
                (stage / relative).unlink(missing_ok=True)
        shutil.rmtree(stage / MODEL_DIR, ignore_errors=True)
        for relative, text in files.items():
            path = stage / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        for relative, source in copies.items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, stage / relative)
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
        "files": [str(target / relative) for relative in [*files, *copies]],
        "changed": changed,
        "canary": (
            {"version": info.version, "percent": rollout.canary, "stable": rollout.stable.version}
            if rollout.canary is not None and rollout.stable is not None
            else None
        ),
        "model_format": rollout.stock.model_format if rollout.stock else None,
    }


def write_manifests(
    root: str | Path,
    spec: str,
    cli_options: dict[str, Any] | None = None,
    commit: bool = False,
    promote: bool = False,
) -> dict[str, Any]:
    """``jupyter-deploy manifests NAME[@vN]``: options resolved CLI > magic line > deploy.yaml.

    ``promote``: write the canary version of ``deploy/NAME/`` alone and point ``CURRENT`` at it.
    Returns ``{name, version, directory, files, changed, canary, model_format, commit}``; ``commit`` is the
    new commit's id when ``commit=True`` and something was staged, else None.
    """
    from ..versions.store import current_version, set_current
    from .plan import plan

    options, rollout = plan(root, spec, cli_options, promote)
    info = rollout.info
    result = generate(root, info, options, rollout)
    if promote and current_version(root, info.name) != info.version:
        set_current(root, info.name, info.version)
    result["commit"] = None
    if commit:
        from .gitops import commit_deployment

        result["commit"] = commit_deployment(root, info, deploy_dir(root, info.name), rollout.version_dir)
    return result


def preview_manifests(root: str | Path, spec: str, cli_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``write_manifests`` would write for ``NAME[@vN]``, rendered in memory: ``{name, version, files}``
    with ``files`` mapping ``deploy/NAME/...`` to its text (copied model files are listed, not read).
    Nothing is written or validated."""
    from .plan import plan

    options, rollout = plan(root, spec, cli_options)
    info = rollout.info
    base = base_dir(root, info.name)
    files = render_files(options, rollout, _merged_resources(_read_resources(base / KUSTOMIZATION), base))
    for relative, source in copied_files(rollout).items():
        files[relative] = f"(copied from {source.relative_to(Path(root)).as_posix()})\n"
    return {
        "name": info.name,
        "version": info.version,
        "files": {f"deploy/{info.name}/{relative}": text for relative, text in files.items()},
    }
