"""``schedule``: a Kubernetes CronJob (batch/v1) that runs ``jupyter-deploy retrain`` in the cluster.

Kubernetes is the scheduler: the CronJob runs the same retrain command as a terminal would, in the training
image, with the project root on a PersistentVolumeClaim (so promoted versions and regenerated manifests
persist), at most one run at a time (``concurrencyPolicy: Forbid``), with bounded history. MLflow's URI and
credentials come from a Secret by reference. Everything checkable here is checked before writing:
the notebook and its deployment, the parameters, the gate, the cron syntax, the resulting object
(``kubernetes-validate``). The file lands in ``deploy/NAME/base/`` and is listed in its kustomization.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..exceptions import OptionsError, ParameterError, ValidationError
from ..files import write_atomic
from ..render import render
from .rules import canary_problem, image_problem, is_dns_label, quantity_problem

CRONJOB_FILE = "retrain-cronjob.yaml"
TEMPLATE = "manifests/retrain-cronjob.yaml.j2"
TRAIN_DOCKERFILE = "manifests/train.Dockerfile.j2"
WORKDIR = "/workspace"
KUBERNETES_VERSION = "1.30.0"  # the schema kubernetes-validate checks against (CronJob is batch/v1 since 1.21)
OPTIONAL_SECRET_KEYS = (
    ("MLFLOW_TRACKING_USERNAME", "username"),
    ("MLFLOW_TRACKING_PASSWORD", "password"),
    ("MLFLOW_TRACKING_TOKEN", "token"),
)
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


@dataclass
class ScheduleRequest:
    notebook: str
    cron: str
    name: str | None = None
    parameters: list[tuple[str, str]] = field(default_factory=list)
    parameter_file: str | None = None
    promote_if: str | None = None
    canary: int | None = None
    timeout: float | None = None
    gpu: int = 0
    gpu_type: str | None = None
    image: str | None = None
    cpu: str = "2"
    memory: str = "8Gi"
    namespace: str | None = None
    workspace_pvc: str | None = None
    mlflow_secret: str = "mlflow"
    service_account: str | None = None


def check_cron(cron: str) -> str:
    """The schedule as Kubernetes' CronJob controller parses it (five fields, or a macro), else ``OptionsError``."""
    text = " ".join(cron.split())
    if text in _MACROS:
        return text
    fields = text.split(" ")
    if len(fields) != len(_CRON_FIELDS):
        problem: str | None = f"it has {len(fields)} fields"
    else:
        problems = (_cron_field_problem(item, *rule) for item, rule in zip(fields, _CRON_FIELDS, strict=True))
        problem = next((problem for problem in problems if problem), None)
    if problem is None:
        return text
    raise OptionsError(
        f"--cron {cron!r} is not a cron schedule ({problem}): five fields 'MIN HOUR DAY MONTH WEEKDAY' "
        "(e.g. '0 3 * * *' for 03:00 daily) or a macro such as @daily",
        "cron",
    )


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (field, lowest, highest, names counted from lowest): the ranges of the parser Kubernetes uses (robfig/cron)
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)


def _cron_field_problem(text: str, what: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """Why one field is not ``*``, ``?``, ``A``, ``A-B`` or any of them ``/STEP``, comma-separated, in range."""

    def value(token: str) -> int | None:
        if token.isdigit():
            return int(token)
        return names.index(token.lower()) + low if token.lower() in names else None

    for item in text.split(","):
        span, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return f"{what} {item!r}: the step after '/' must be a positive number"
        if span in ("*", "?") and (span == "*" or what.startswith("day")):
            continue
        first, dash, last = span.partition("-")
        bounds = [value(first), value(last) if dash else value(first)]
        if None in bounds:
            return f"{what} {item!r} is not a number{' or a name' if names else ''}"
        start, end = bounds
        assert start is not None and end is not None
        if not low <= start <= end <= high:
            return f"{what} {item!r} is outside {low}-{high}" if start <= end else f"{what} {item!r} runs backwards"
    return None


def _relative_to_root(path: str | Path, root: Path, what: str) -> str:
    resolved = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    try:
        return PurePosixPath(resolved.relative_to(root).as_posix()).as_posix()
    except ValueError:
        raise OptionsError(f"{what} {path} is outside the project root {root}: the job only sees the root") from None


def retrain_command(request: ScheduleRequest, notebook: str, name: str, parameter_file: str | None) -> list[str]:
    """The ``jupyter-deploy retrain`` argv the job runs (the same as in a terminal)."""
    command = ["jupyter-deploy", "retrain", notebook, "--name", name, "--root", WORKDIR, "--no-progress"]
    if parameter_file:
        command += ["-f", parameter_file]
    for key, value in request.parameters:
        command += ["-p", key, value]
    if request.promote_if:
        command += ["--promote-if", request.promote_if]
    if request.canary is not None:
        command += ["--canary", str(request.canary)]
    if request.timeout is not None:
        command += ["--timeout", f"{request.timeout:g}"]
    return command


def render_cronjob(root: str | Path, request: ScheduleRequest) -> tuple[str, str, dict[str, Any]]:
    """Check the request and render the CronJob: (deployment name, YAML text, the parsed object)."""
    import yaml

    from ..retrain.gate import parse_gate
    from ..retrain.parameters import resolve_parameters
    from ..retrain.run import _deployment
    from .options import GPU_PRODUCT_LABEL, GPU_RESOURCE

    root = Path(root).resolve()
    cron = check_cron(request.cron)
    notebook = _relative_to_root(request.notebook, root, "the notebook")
    _, name = _deployment(root / notebook, root, request.name)
    parameter_file = _relative_to_root(request.parameter_file, root, "-f") if request.parameter_file else None
    resolve_parameters(root / notebook, request.parameters, root / parameter_file if parameter_file else None)
    parse_gate(request.promote_if)
    _check(request)
    namespace = request.namespace or _option(root, name, "namespace") or "default"
    context = {
        "notebook": notebook,
        "cronjob_name": f"{name}-retrain"[:52],  # CronJob names: at most 52 characters
        "namespace": namespace,
        "labels": [
            ("app.kubernetes.io/component", "retrain"),
            ("app.kubernetes.io/managed-by", "jupyter-deploy"),
            ("app.kubernetes.io/name", name),
        ],
        "cron": cron,
        "deadline": _deadline(request.timeout),
        "service_account": request.service_account or _option(root, name, "service_account"),
        "gpu": request.gpu,
        "gpu_type": request.gpu_type,
        "gpu_resource": GPU_RESOURCE,
        "gpu_product_label": GPU_PRODUCT_LABEL,
        "image": request.image or f"{name}-train:latest",
        "workdir": WORKDIR,
        "command": retrain_command(request, notebook, name, parameter_file),
        "secret": request.mlflow_secret,
        "optional_secret_keys": OPTIONAL_SECRET_KEYS,
        "cpu": request.cpu,
        "memory": request.memory,
        "shm": "2Gi" if request.gpu else "512Mi",
        "pvc": request.workspace_pvc or f"{name}-workspace",
    }
    text = render(TEMPLATE, **context)
    document = yaml.safe_load(text)
    _validate(document)
    return name, text, document


def write_schedule(root: str | Path, request: ScheduleRequest) -> dict[str, Any]:
    """Write ``deploy/NAME/base/retrain-cronjob.yaml`` and list it in the kustomization."""
    from .layout import KUSTOMIZATION, add_to_kustomization, base_dir

    name, text, document = render_cronjob(root, request)
    directory = base_dir(root, name)
    kustomization = directory / KUSTOMIZATION
    if not kustomization.is_file():
        from ..exceptions import NotFoundError

        raise NotFoundError(
            f"{kustomization} does not exist: generate the manifests first (jupyter-deploy manifests {name})"
        )
    path = directory / CRONJOB_FILE
    image_files = render_training_image(root, request, name)
    for relative, content in [*image_files.items(), (path.relative_to(directory.parent).as_posix(), text)]:
        write_atomic(directory.parent / relative, content)
    add_to_kustomization(directory.parent, CRONJOB_FILE)
    return {
        "name": name,
        "path": str(path),
        "image_files": [str(directory.parent / relative) for relative in image_files],
        "kustomization": str(kustomization),
        "schedule": document["spec"]["schedule"],
        "command": document["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"],
    }


def render_training_image(root: str | Path, request: ScheduleRequest, name: str) -> dict[str, str]:
    """``train/Dockerfile`` and ``train/requirements.txt`` (relative to ``deploy/NAME/``): the image the
    CronJob runs: the notebook's own imports pinned, then this tool by its distribution name."""
    from .. import DISTRIBUTION, __version__
    from ..notebook.annotations import python_source
    from ..notebook.read import read_notebook
    from ..versions.requirements import imported_modules, pin_modules
    from .rendering import CUDA_BASE, PYTHON_VERSION, TORCH_INDEX, UID

    root = Path(root).resolve()
    notebook = _relative_to_root(request.notebook, root, "the notebook")
    sources = [python_source(cell.source) for cell in read_notebook(root / notebook).cells]
    requirements = pin_modules(imported_modules(sources))
    uses_torch = any(line.startswith("torch==") for line in requirements)
    context = {
        "name": name,
        "notebook": notebook,
        "cronjob_file": CRONJOB_FILE,
        "image": request.image or f"{name}-train:latest",
        "gpu": request.gpu > 0,
        "cuda_base": CUDA_BASE,
        "python_version": PYTHON_VERSION,
        "torch_index": f"{TORCH_INDEX}/{'cu126' if request.gpu else 'cpu'}" if uses_torch else None,
        "tool": f"{DISTRIBUTION}=={__version__}",
        "uid": 1000 if UID is None else UID,
        "workdir": WORKDIR,
    }
    dockerfile = render(TRAIN_DOCKERFILE, **context)
    return {"train/Dockerfile": dockerfile, "train/requirements.txt": "\n".join(requirements) + "\n"}


def _check(request: ScheduleRequest) -> None:
    if request.gpu < 0:
        raise OptionsError(f"--gpu {request.gpu}: give a number of GPUs, 0 or more", "gpu")
    for option, value in (("--cpu", request.cpu), ("--memory", request.memory)):
        problem = quantity_problem(value)
        if problem:
            raise OptionsError(f"{option} {problem}", option)
    names: list[tuple[str, str | None]] = [
        ("--workspace-pvc", request.workspace_pvc),
        ("--mlflow-secret", request.mlflow_secret),
    ]
    for option, name in names:
        if name is not None and not is_dns_label(name):
            raise OptionsError(f"{option} {name!r} is not a valid object name (lower-case letters, digits, '-')")
    if request.image is not None and image_problem(request.image):
        raise OptionsError(f"--image: {image_problem(request.image)}", "image")
    if request.canary is not None and canary_problem(request.canary):
        raise ParameterError(f"--canary: {canary_problem(request.canary)}")
    if request.timeout is not None and (request.timeout <= 0 or not math.isfinite(request.timeout)):
        raise ParameterError(f"--timeout {request.timeout}: give a positive number of seconds")


def _deadline(timeout: float | None) -> int | None:
    """The whole job's deadline: none unless a per-cell timeout is given, then a generous multiple of it."""
    return None if timeout is None else int(max(3600, timeout * 20))


def _option(root: Path, name: str, key: str) -> Any:
    """A deployment option from deploy.yaml (the magic line's options are per version; not needed here)."""
    try:
        from ..project import resolve_options

        return resolve_options(root, name, recorded={}, cli=None).get(key)
    except Exception:  # no or unreadable deploy.yaml: `manifests` reports that; the defaults serve here
        return None


def _validate(document: dict[str, Any]) -> None:
    """Strict schema check of the CronJob (batch/v1), offline, with ``kubernetes-validate``."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(json.loads(json.dumps(document)), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        raise ValidationError(
            f"the retrain CronJob does not validate: {path}: {error.message}",
            [(CRONJOB_FILE, path, error.message)],
        ) from None
