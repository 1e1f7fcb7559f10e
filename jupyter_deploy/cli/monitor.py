"""``monitor``: logged requests against the version's reference profile; exit status 3 on drift."""

from __future__ import annotations

import argparse

from .common import add_json, add_root, emit

DRIFT_EXIT = 3  # distinct from 1 (an error): a CronJob or CI step can trigger retraining on it


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..monitor.check import DEFAULT_THRESHOLD

    monitor = subparsers.add_parser(
        "monitor",
        help="compare logged requests with the version's reference profile (drift)",
        description=(
            "Read the payload logs in DIR (written by 'jupyter-deploy serve NAME --log-payloads DIR'), compare "
            "each input and output feature with the reference profile saved at export (population stability "
            "index; Kolmogorov-Smirnov for numbers, chi-square for categories), print a table, optionally "
            "write an HTML report, log the figures as a run in the deployment's MLflow experiment, and exit "
            f"with status {DRIFT_EXIT} when a feature's PSI reaches --threshold (1 on errors, 0 otherwise)."
        ),
    )
    monitor.add_argument("spec", metavar="NAME[@vN]", help="deployment (its current version unless @vN)")
    monitor.add_argument("--payloads", required=True, metavar="DIR", help="the --log-payloads directory")
    monitor.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"PSI at which a feature counts as drifted (default {DEFAULT_THRESHOLD}; 0.1 moderate, 0.25 large)",
    )
    monitor.add_argument("--html", metavar="FILE", help="write an HTML report with a chart per feature")
    monitor.add_argument("--no-mlflow", action="store_true", help="do not log the figures to MLflow")
    add_root(monitor)
    add_json(monitor)
    monitor.set_defaults(handler=run_monitor_command)


def run_monitor_command(args: argparse.Namespace) -> int:
    from ..monitor.check import run_monitor
    from ..monitor.report import terminal_table

    result = run_monitor(
        args.root, args.spec, args.payloads, args.threshold, html=args.html, log_to_mlflow=not args.no_mlflow
    )
    text = terminal_table(result)
    if result.get("html"):
        text += f"\nreport: {result['html']}"
    if result.get("mlflow_run_id"):
        text += f"\nMLflow run: {result['mlflow_run_id']}"
    emit(args, result, text)
    return DRIFT_EXIT if result["drifted"] else 0
