"""Small pieces every subcommand shares: the project root option and ``--json`` output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..project import project_root


def add_root(parser: argparse.ArgumentParser) -> None:
    # argparse passes the default through ``type`` too: every command gets its root from ``project_root``
    parser.add_argument(
        "--root", default=".", type=project_root, help="project root holding deployments/ and deploy/ (default: .)"
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON when ``--json`` was given, else the human text."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print(text)
