"""``manifests``, ``validate``, ``apply``, ``status``, ``delete``: deploy/NAME/ and the cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster.report import applied_lines, dropped_warning, status_details, status_headline
from ..project import MANIFEST_OPTIONS, convert, option_flag
from .common import add_json, add_root, emit

if TYPE_CHECKING:
    from ..cluster.command import Written
    from ..cluster.kube import Where


def _cluster_options(parser: argparse.ArgumentParser, namespace: bool = True) -> None:
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    if namespace:
        parser.add_argument("--namespace", "-n", help="namespace (default: the manifest's)")


def _manifest_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per manifest option of the table; values stay text here and ``convert`` types them."""
    for option, spec in MANIFEST_OPTIONS.items():
        if spec.kind is list:
            parser.add_argument(option_flag(option), dest=option, action="append", help=spec.manifest_help)
        elif spec.kind is bool:  # --batcher alone means true
            parser.add_argument(option_flag(option), dest=option, nargs="?", const="true", help=spec.manifest_help)
        else:
            parser.add_argument(option_flag(option), dest=option, help=spec.manifest_help)


def _where(args: argparse.Namespace) -> Where:
    """The cluster the ``_cluster_options`` flags name."""
    return {"namespace": args.namespace, "context": args.context, "kubeconfig": args.kubeconfig}


def register(subparsers: Any) -> None:
    manifests = subparsers.add_parser(
        "manifests",
        help="write deploy/NAME/: InferenceService, Dockerfile, kustomize base and overlays",
        description="Write deploy/NAME/ for the current version of NAME (or NAME@vN). Options given here "
        "override the %%deploy magic line, which overrides deploy.yaml. Nothing is written when an option is "
        "wrong or the result does not validate. Canary: NAME@vN --canary P splits traffic between the version "
        "deploy/NAME/ serves now and vN; NAME --promote then makes vN the only version (and CURRENT).",
    )
    manifests.add_argument("spec", metavar="NAME[@vN]")
    _manifest_flags(manifests)
    manifests.add_argument(
        "--promote",
        action="store_true",
        help="end the canary of deploy/NAME/: write its new version alone and point CURRENT at it",
    )
    manifests.add_argument("--commit", action="store_true", help="git commit deploy/NAME/ and the version directory")
    batch = manifests.add_argument_group("batch prediction on the cluster (deploy/NAME/batch-job.yaml)")
    batch.add_argument(
        "--batch-job",
        action="store_true",
        help="write an Indexed Job (Kubernetes >= 1.24) that runs the version's predictor image over --input, "
        "pod INDEX predicting shard INDEX into --output/part-INDEX.parquet; the InferenceService is left alone",
    )
    batch.add_argument("--input", dest="batch_input", metavar="URI", help="pvc://CLAIM/PATH, s3://..., gs://...")
    batch.add_argument("--output", dest="batch_output", metavar="URI", help="a directory URI for part-INDEX.parquet")
    batch.add_argument("--parallelism", type=int, default=1, metavar="K", help="pods, one shard each (default 1)")
    add_root(manifests)
    add_json(manifests)
    manifests.set_defaults(handler=run_manifests)

    validate = subparsers.add_parser("validate", help="check manifests against KServe's and Kubernetes' schemas")
    validate.add_argument("path", nargs="?", type=Path, help="a file or directory (default: ROOT/deploy)")
    validate.add_argument("--kubernetes-version", help="schemas of this Kubernetes version for built-in kinds")
    add_root(validate)
    add_json(validate)
    validate.set_defaults(handler=run_validate)

    apply = subparsers.add_parser("apply", help="server-side apply deploy/NAME/base to the cluster")
    apply.add_argument("name", metavar="NAME")
    apply.add_argument("--dry-run", action="store_true", help="let the server check it, change nothing")
    apply.add_argument("--no-validate", action="store_true", help="skip the offline validation")
    _cluster_options(apply)
    add_root(apply)
    add_json(apply)
    apply.set_defaults(handler=run_apply)

    for command, handler, text in (
        ("status", run_status, "readiness, conditions and URL of the InferenceService"),
        ("delete", run_delete, "delete what apply created"),
    ):
        sub = subparsers.add_parser(command, help=text)
        sub.add_argument("name", metavar="NAME")
        _cluster_options(sub)
        add_root(sub)
        add_json(sub)
        sub.set_defaults(handler=handler)


def cli_options(args: argparse.Namespace) -> dict[str, Any]:
    """The manifest options given on the command line, converted to their declared types."""
    options: dict[str, Any] = {}
    for option in MANIFEST_OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            options[option] = convert(option, value)
    return options


def deploy_files_request(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed ``manifests`` flags as ``cluster.command.write_deploy_files``'s arguments."""
    return {
        "root": args.root,
        "spec": args.spec,
        "options": cli_options(args),
        "commit": args.commit,
        "promote": args.promote,
        "batch_job": args.batch_job,
        "batch_input": args.batch_input,
        "batch_output": args.batch_output,
        "parallelism": args.parallelism,
    }


def show_written(args: argparse.Namespace, written: Written) -> None:
    """What was written (JSON with ``--json``), then the notes on stderr."""
    emit(args, written.result, written.text)
    for note in written.notes:
        print(f"jupyter-deploy: note: {note}", file=sys.stderr)


def run_manifests(args: argparse.Namespace) -> int:
    from ..cluster.command import write_deploy_files

    show_written(args, write_deploy_files(**deploy_files_request(args)))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from ..cluster.validate import validate_path

    path = args.path or Path(args.root) / "deploy"
    problems = validate_path(path, args.kubernetes_version)
    data = {"path": str(path), "valid": not problems, "problems": [vars(problem) for problem in problems]}
    text = "\n".join(str(problem) for problem in problems) or f"{path}: valid"
    if problems:
        text += f"\n{len(problems)} problem(s)"
    emit(args, data, text)
    return 1 if problems else 0


def run_apply(args: argparse.Namespace) -> int:
    from ..cluster import kube

    result = kube.apply(args.root, args.name, dry_run=args.dry_run, validate=not args.no_validate, **_where(args))
    emit(args, result, "\n".join(applied_lines(result)))
    for dropped in result["dropped"]:
        print(f"jupyter-deploy: warning: {dropped_warning(dropped)}", file=sys.stderr)
    return 1 if result["dropped"] else 0


def run_status(args: argparse.Namespace) -> int:
    from ..cluster import kube

    result = kube.status(args.root, args.name, **_where(args))
    lines = [status_headline(result), *(f"  {line}" for line in status_details(result))]
    emit(args, result, "\n".join(lines))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from ..cluster import kube

    result = kube.delete(args.root, args.name, **_where(args))
    lines = [
        f"{item['kind']}/{item['name']} in {result['namespace']}: " + ("deleted" if item["deleted"] else "not found")
        for item in result["objects"]
    ]
    emit(args, result, "\n".join(lines))
    return 0
