"""``jupyter-deploy`` (also ``jupyter deploy``): the terminal front door.

Each area registers its subcommands from its own module; handlers are thin calls into the package.
Errors that jupyter-deploy raises on purpose print one line and exit 1, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..exceptions import JupyterDeployError

# one module a concern; each defines ``register(subparsers)``
COMMAND_MODULES = ("export", "serve", "manifests", "retrain", "predict", "monitor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter-deploy",
        description=(
            "Turn the annotated cells of a notebook into a versioned KServe predictor, serve it locally, "
            "write Kubernetes manifests for it, and retrain it from the same notebook."
        ),
        epilog="Run 'jupyter-deploy COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"jupyter-deploy {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module_name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except JupyterDeployError as error:
        print(f"jupyter-deploy: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jupyter-deploy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
