"""``retrain``, ``runs`` and ``schedule``: re-run a notebook as a tracked, gated retraining job."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import add_json, add_root, emit

# ``schedule``'s options for the training pod, named as ``ScheduleRequest``'s fields
POD_OPTIONS = (
    "gpu",
    "gpu_type",
    "image",
    "cpu",
    "memory",
    "namespace",
    "workspace_pvc",
    "mlflow_secret",
    "service_account",
)
GATE_HELP = "promote only if the run passes, e.g. 'val_accuracy >= 0.9' or 'val_loss < current'"


def register(subparsers: Any) -> None:
    retrain = subparsers.add_parser(
        "retrain",
        help="re-run a notebook with new parameters (papermill + MLflow) and promote the result if better",
        description=(
            "Run NOTEBOOK with papermill in the jupyter-deploy kernel inside an MLflow run, export its model as the "
            "next version, and make it current only if it passes --promote-if."
        ),
    )
    retrain.add_argument("notebook", help="the notebook that builds the model")
    _add_run_options(retrain, timeout_help="fail a cell that runs longer than S seconds")
    retrain.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_root(retrain)
    add_json(retrain)
    retrain.set_defaults(handler=_retrain)

    runs = subparsers.add_parser("runs", help="list the retraining runs of a deployment (MLflow)")
    runs.add_argument("name", help="deployment name")
    runs.add_argument("--limit", type=int, default=20, help="newest N runs (default: 20)")
    add_root(runs)
    add_json(runs)
    runs.set_defaults(handler=_runs)

    schedule = subparsers.add_parser(
        "schedule",
        help="write a Kubernetes CronJob that runs retrain in the cluster",
        description="Write deploy/NAME/base/retrain-cronjob.yaml and list it in the kustomization.",
    )
    schedule.add_argument("notebook", help="the notebook, relative to the project root (also in the image)")
    schedule.add_argument("--cron", required=True, help="when, in cron syntax, e.g. '0 3 * * *'")
    _add_run_options(schedule, timeout_help="per-cell timeout of the retrain command")
    schedule.add_argument("--gpu", type=int, default=0, metavar="N", help="GPUs for the training pod")
    schedule.add_argument("--gpu-type", help="GPU product node label (nvidia.com/gpu.product)")
    schedule.add_argument(
        "--image",
        help="training image (default NAME-train:latest, built from deploy/NAME/train/Dockerfile; not deploy.yaml's "
        "image, which is the predictor's)",
    )
    schedule.add_argument("--cpu", default="2", help="CPU request (default: 2)")
    schedule.add_argument("--memory", default="8Gi", help="memory request (default: 8Gi)")
    schedule.add_argument("--namespace", help="namespace (default: deploy.yaml's, else default)")
    schedule.add_argument("--workspace-pvc", help="PVC holding the project root (default: NAME-workspace)")
    schedule.add_argument("--mlflow-secret", default="mlflow", help="Secret with tracking-uri, username, password")
    schedule.add_argument("--service-account", help="service account of the training pod")
    add_root(schedule)
    add_json(schedule)
    schedule.set_defaults(handler=_schedule)


def _add_run_options(parser: argparse.ArgumentParser, timeout_help: str) -> None:
    """What a retraining run takes, from ``retrain`` itself or from the CronJob ``schedule`` writes."""
    parser.add_argument("--name", help="deployment name (default: the notebook's only deployment)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="set a parameter of the notebook's 'parameters' cell (repeatable)",
    )
    parser.add_argument("-f", "--parameters-file", metavar="FILE", help="YAML file of parameters (-p wins)")
    parser.add_argument("--promote-if", metavar="EXPR", help=GATE_HELP)
    parser.add_argument("--canary", type=int, metavar="P", help="promote as a canary taking P%% of the traffic")
    parser.add_argument("--timeout", type=float, metavar="S", help=timeout_help)


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``_add_run_options`` added, as keyword arguments of ``retrain`` and ``ScheduleRequest``."""
    return {
        "name": args.name,
        "parameters": [tuple(pair) for pair in args.parameter],
        "parameter_file": args.parameters_file,
        "promote_if": args.promote_if,
        "canary": args.canary,
        "timeout": args.timeout,
    }


def _retrain(args: argparse.Namespace) -> int:
    from ..retrain.run import Terminated, retrain, sigterm_as_interrupt

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        with sigterm_as_interrupt():  # from here on, also before the run exists: one line, exit 143
            result = retrain(
                args.notebook,
                root=args.root,
                **_run_options(args),
                progress=not args.no_progress and sys.stderr.isatty(),
                log=log,
            )
    except Terminated:  # SIGTERM: the run is closed as FAILED, its kernel gone; exit as a terminated process does
        print("jupyter-deploy: terminated", file=sys.stderr)
        return 128 + 15
    if result.promoted:
        where = f"; manifests in {result.manifests['directory']}" if result.manifests else ""
        text = f"{result.name} {result.version} promoted ({result.reason}){where}"
    elif result.outcome == "unchanged":
        text = f"{result.name}: {result.reason}; nothing to promote"
    else:
        text = (
            f"{result.name} {result.version} not promoted: {result.reason}; "
            f"{result.previous or 'no version'} stays current"
        )
    emit(args, result.model_dump(mode="json"), f"{text}\nrun {result.run_id} ({result.seconds:.1f} s)")
    return 0


def _runs(args: argparse.Namespace) -> int:
    import os

    from ..exceptions import NotFoundError
    from ..notebook.annotations import check_name
    from ..retrain.mlflow_store import DB_FILE, MlflowStore

    check_name(args.name)
    if not os.environ.get("MLFLOW_TRACKING_URI") and not (args.root / DB_FILE).is_file():
        # a read-only command: never create the local store just to find it empty
        raise NotFoundError(f"no retraining runs for {args.name!r}: run jupyter-deploy retrain NOTEBOOK first")
    runs = MlflowStore(args.root).runs(args.name, limit=args.limit)
    emit(args, runs, format_runs(runs))
    return 0


def format_runs(runs: list[dict[str, Any]]) -> str:
    lines = [f"{'RUN':12} {'STARTED':21} {'OUTCOME':10} {'VERSION':8} {'METRICS':30} PARAMETERS"]
    for run in runs:
        metrics = " ".join(f"{key}={value:.4g}" for key, value in sorted(run["metrics"].items()))
        params = " ".join(f"{key}={value}" for key, value in sorted(run["params"].items()))
        lines.append(
            f"{run['run_id'][:12]:12} {run['started'] or '-':21} {run['outcome']:10} {run['version'] or '-':8} "
            f"{metrics or '-':30} {params or '-'}"
        )
        if run["reason"] and run["outcome"] != "promoted":
            lines.append(f"{'':12} {run['reason']}")
    return "\n".join(lines)


def _schedule(args: argparse.Namespace) -> int:
    from ..cluster.schedule import ScheduleRequest, write_schedule

    request = ScheduleRequest(
        notebook=args.notebook,
        cron=args.cron,
        **_run_options(args),
        **{option: getattr(args, option) for option in POD_OPTIONS},
    )
    result = write_schedule(args.root, request)
    emit(args, result, f"wrote {result['path']} ({result['schedule']}); listed in {result['kustomization']}")
    return 0
