"""``export``, ``versions``, ``diff``: notebook cells -> versioned predictors, and looking at them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_json, add_root, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="export a notebook's annotated cells as a new predictor version",
        description=(
            "Read the cells marked '%%%%deploy ROLE' (or tagged deploy:ROLE) in NOTEBOOK, gather everything "
            "they need, and write deployments/NAME/vN/ (predictor.py, requirements.txt, artifacts/, "
            "version.json). Unchanged content creates no new version. Without --execute every name must be "
            "defined in the notebook's source; with --execute the notebook runs in a fresh jupyter-deploy "
            "kernel first and live objects (a trained model) are captured."
        ),
    )
    export.add_argument("notebook", type=Path, help="the .ipynb file")
    export.add_argument("--name", help="deployment to export (default: the notebook's only one)")
    export.add_argument("--execute", action="store_true", help="run the notebook in a fresh kernel first")
    export.add_argument("--allow-pickle", action="store_true", help="save objects torch.export cannot, by pickle")
    export.add_argument(
        "--requirement",
        action="append",
        default=[],
        metavar="REQ",
        help="extra requirements.txt line (repeat)",
    )
    export.add_argument("--no-parity", action="store_true", help="skip the parity check (not recommended)")
    export.add_argument(
        "--reference",
        metavar="VAR",
        help="with --execute: profile this kernel variable (training features) as monitoring's reference",
    )
    export.add_argument("--timeout", type=int, default=600, help="seconds per cell with --execute (default 600)")
    add_root(export)
    add_json(export)
    export.set_defaults(handler=run_export)

    versions = _deployment_command(
        subparsers, "versions", "list a deployment's versions", "List the versions of deployment NAME."
    )
    versions.add_argument(
        "--verify",
        action="store_true",
        help="check every version's files against the sizes and sha256 recorded at export (exit 1 if one differs)",
    )
    versions.set_defaults(handler=run_versions)
    add_json(versions)

    diff = _deployment_command(
        subparsers, "diff", "show what changed between two versions", "Unified diff of two versions."
    )
    diff.set_defaults(handler=run_diff)
    diff.add_argument("old", help="e.g. v1")
    diff.add_argument("new", help="e.g. v2")


def _deployment_command(
    subparsers: argparse._SubParsersAction, command: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A command about one deployment's versions: ``command NAME [--root DIR]``."""
    parser = subparsers.add_parser(command, help=summary, description=description)
    parser.add_argument("name")
    add_root(parser)
    return parser


def run_export(args: argparse.Namespace) -> int:
    from ..versions.store import export_summary

    if args.reference and not args.execute:
        from ..exceptions import MonitorError

        raise MonitorError(f"--reference {args.reference} is a variable of the running notebook: add --execute")
    if args.execute:
        from ..versions.execute import execute_and_export

        result = execute_and_export(
            args.notebook,
            args.root,
            args.name,
            args.allow_pickle,
            args.requirement,
            timeout=args.timeout,
            progress=not args.json,
            reference=args.reference,
        )
    else:
        from ..versions.export import export_notebook

        result = export_notebook(
            args.notebook,
            args.root,
            args.name,
            args.allow_pickle,
            args.requirement,
            parity=not args.no_parity,
        )
    emit(args, result.model_dump(mode="json"), export_summary(result))
    return 0


def run_versions(args: argparse.Namespace) -> int:
    from ..versions import store

    infos = store.list_versions(args.root, args.name)
    if not infos:
        raise store.no_versions(args.root, args.name)
    current = store.current_version(args.root, args.name)
    data = {
        "name": args.name,
        "current": current,
        "versions": [info.model_dump(mode="json") for info in infos],
    }
    if not args.verify:
        emit(args, data, store.format_versions(infos, current))
        return 0
    data["verified"] = checked = store.verify_versions(args.root, args.name)
    bad = [result["message"] for result in checked if not result["ok"]]
    intact = [f"{args.name} {result['version']}: verified" for result in checked if result["ok"]]
    if args.json or intact:
        emit(args, data, "\n".join(intact))
    for message in bad:  # one line per version that fails, as every error is printed
        print(f"jupyter-deploy: error: {message}", file=sys.stderr)
    return 1 if bad else 0


def run_diff(args: argparse.Namespace) -> int:
    from ..versions import store

    print(store.diff_versions(args.root, args.name, args.old, args.new) or "no differences", end="")
    return 0
