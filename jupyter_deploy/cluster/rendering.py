"""What the templates under ``templates/manifests/`` are given, and the files of ``deploy/NAME/`` they render.

``render_context`` gathers the InferenceService's fields (one ``predictor_context`` per predictor: the
stable one and, in a Standard-mode canary, the new version beside it), the image reference and the
Dockerfile's base; ``render_files`` renders every generated file in memory. Nothing here writes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..records import VersionInfo
from ..render import render
from .canary import CANARY_ANNOTATION, STABLE_ANNOTATION
from .layout import BASE, ISVC_FILE, KUSTOMIZATION
from .options import GPU_PRODUCT_LABEL, GPU_RESOURCE, ManifestOptions
from .plan import Rollout
from .stock import UPLOAD_NOTE, StockModel

PORT = 8080
UID = 1000
STARTUP_PERIOD_S = 5  # how often the startupProbe asks whether the model has loaded
# the image's Python: the one that pinned requirements.txt (the interpreter writing it), not a guess
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
PIP_INDEX = "https://pypi.org/simple"
TORCH_INDEX = "https://download.pytorch.org/whl"
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
# torch release -> the CUDA its PyPI wheels are built for (their nvidia-cuda-runtime / cuda-toolkit pin); a
# release takes the row of the newest release at or below it
TORCH_CUDA: tuple[tuple[tuple[int, int], str], ...] = (
    ((2, 1), "12.1"),
    ((2, 5), "12.4"),
    ((2, 7), "12.6"),
    ((2, 8), "12.8"),
    ((2, 10), "13.0"),
)
# CUDA -> its nvidia/cuda image: the base flavour (the CUDA runtime and the driver-version check; torch's wheels
# bring cuBLAS, cuDNN... as nvidia-* wheels), on the newest Ubuntu it is published for
CUDA_IMAGES = {
    "12.1": "nvidia/cuda:12.1.1-base-ubuntu22.04",
    "12.4": "nvidia/cuda:12.4.1-base-ubuntu22.04",
    "12.6": "nvidia/cuda:12.6.3-base-ubuntu24.04",
    "12.8": "nvidia/cuda:12.8.1-base-ubuntu24.04",
    "13.0": "nvidia/cuda:13.0.0-base-ubuntu24.04",
}
CUDA_VERSION = TORCH_CUDA[-1][1]  # without a torch pin (a GPU image of another library)
CUDA_BASE = CUDA_IMAGES[CUDA_VERSION]
# distribution -> the system packages its wheels load but do not bundle (slim images lack them)
SYSTEM_PACKAGES: dict[str, tuple[str, ...]] = {
    "lightgbm": ("libgomp1",),  # OpenMP (LightGBM issue #7141)
}
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


def requirement_names(requirements: list[str]) -> set[str]:
    """The lower-cased distribution names of pinned requirement lines (``torch==2.13.0`` -> ``torch``)."""
    return {re.split(r"[=<>!~\[ ;]", line.strip(), maxsplit=1)[0].lower() for line in requirements}


def _uses_torch(info: VersionInfo) -> bool:
    return bool(requirement_names(info.requirements) & set(TORCH_PACKAGES))


def pinned_version(requirements: list[str], name: str) -> str | None:
    """The version ``name==X`` pins in ``requirements`` (None when it is not pinned exactly)."""
    for line in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*==\s*([^\s;]+)\s*(;.*)?", line)
        if match and match.group(1).lower().replace("_", "-") == name:
            return match.group(2)
    return None


def torch_cuda(torch_version: str | None) -> str:
    """The CUDA that PyPI's wheels of ``torch_version`` are built for (the newest row without a version)."""
    release = re.match(r"(\d+)\.(\d+)", torch_version or "")
    if release is None:
        return CUDA_VERSION
    key = (int(release.group(1)), int(release.group(2)))
    rows = [cuda for since, cuda in TORCH_CUDA if since <= key]
    return rows[-1] if rows else TORCH_CUDA[0][1]


def image_context(info: VersionInfo, gpu: bool) -> dict[str, Any]:
    """What ``Dockerfile.j2`` is given besides names: the base, the package sources, the system packages."""
    names = requirement_names(info.requirements)
    torch_version = pinned_version(info.requirements, "torch")
    cuda = torch_cuda(torch_version)
    wanted = {name: SYSTEM_PACKAGES[name] for name in sorted(names & set(SYSTEM_PACKAGES))}
    system_packages = sorted({package for packages in wanted.values() for package in packages})
    reasons = "; ".join(
        f"{' '.join(packages)}: loaded by {name}'s wheel, not bundled" for name, packages in wanted.items()
    )
    torch_index = f"{TORCH_INDEX}/cu{cuda.replace('.', '')}" if gpu else f"{TORCH_INDEX}/cpu"
    from ..versions.requirements import RUNTIME_DISTRIBUTIONS

    return {
        "python_version": PYTHON_VERSION,
        # what every version's runtime imports, pinned as in requirements.txt: a layer of its own, below the
        # model's libraries, that the images of every model built in one environment share
        "runtime_pins": [line for line in info.requirements if requirement_names([line]) & set(RUNTIME_DISTRIBUTIONS)],
        "torch_pins": [line for line in info.requirements if requirement_names([line]) & set(TORCH_PACKAGES)],
        "cuda_version": cuda,
        "cuda_base": CUDA_IMAGES[cuda],
        "torch_version": torch_version,
        "pip_index": PIP_INDEX,
        "extra_index": torch_index if names & set(TORCH_PACKAGES) else "",
        "system_packages": system_packages,
        "system_reasons": reasons,
    }


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
        # the predictor image serves the model under the deployment's name; KServe's runtimes name it themselves
        "ready_path": f"/v2/models/{options.name}/ready" if custom else "/v2/health/ready",
        **startup_probe(options.startup_seconds),
    }


def startup_probe(seconds: int) -> dict[str, int]:
    """The startupProbe's period and failure threshold: at least ``seconds`` of loading (period * threshold),
    less than one period more. Liveness and readiness probes start only once it has passed."""
    period = min(STARTUP_PERIOD_S, seconds)
    return {"startup_period": period, "startup_failures": -(-seconds // period)}


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
        **image_context(info, options.gpu > 0),
        "tool_version": __version__,
        "version_dir": f"deployments/{info.name}/{info.version}",
        "resources": resources,
        "dev_min_replicas": 0 if options.mode == "Knative" else 1,
    }


def render_files(options: ManifestOptions, rollout: Rollout, resources: list[str]) -> dict[str, str]:
    """Relative path -> text of every generated file (no image files for KServe's own runtimes)."""
    context = render_context(options, rollout, resources)
    files = {}
    for relative, template in GENERATED.items():
        if relative in IMAGE_FILES and options.runtime != "predictor":
            continue
        files[relative] = render(f"manifests/{template}", **context)
    if rollout.stock is not None and options.storage_uri:
        files[UPLOAD_NOTE] = rollout.stock.upload_note(options.name, rollout.info.version, options.storage_uri)
    return files


def copied_files(rollout: Rollout) -> dict[str, Path]:
    """Relative path -> artifact file copied into ``deploy/NAME/model/`` (stock runtimes)."""
    return rollout.stock.layout() if rollout.stock is not None else {}
