"""``%%deploy ROLE`` and ``%deploy COMMAND``: the notebook front door.

``%%deploy`` runs its cell as usual; the annotation lives in the cell's first line, which export reads
back from the kernel's history (or the saved notebook). ``%deploy`` subcommands are thin calls into the
package; each area registers its own in ``LINE_COMMANDS``. Errors become ``UsageError`` (no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..exceptions import JupyterDeployError

# subcommand -> "module:function"; each takes (shell, argv) and returns what the cell shows
LINE_COMMANDS: dict[str, str] = {
    "export": "jupyter_deploy.jupyter.kernel_commands:export_command",
    "versions": "jupyter_deploy.jupyter.kernel_commands:versions_command",
    "diff": "jupyter_deploy.jupyter.kernel_commands:diff_command",
    "serve": "jupyter_deploy.jupyter.kernel_serve:serve_command",
    "stop": "jupyter_deploy.jupyter.kernel_serve:stop_command",
    "manifests": "jupyter_deploy.jupyter.kernel_commands:manifests_command",
}


class MagicArgumentParser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` instead of exiting the kernel."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            print(message)
        raise UsageError("") if status else _HelpShown()


class _HelpShown(Exception):
    """``--help`` was printed; nothing else to do."""


def command_parser(prog: str, description: str) -> MagicArgumentParser:
    """A ``%deploy COMMAND`` parser with ``--root``, which (given or not) ``project.project_root`` resolves."""
    from ..project import project_root

    parser = MagicArgumentParser(prog=prog, description=description)
    # argparse passes a text default through ``type`` too: args.root is always the resolved root
    parser.add_argument(
        "--root", default="", type=project_root, help="project root (default: the kernel's working directory)"
    )
    return parser


@magics_class
class DeployMagics(Magics):
    @cell_magic
    def deploy(self, line: str, cell: str) -> None:
        """%%deploy ROLE [--name NAME] [options]: mark this cell for export, then run it.

        ROLE is predict, load, preprocess, postprocess, example or reference (binds reference_input, the
        data monitoring compares served requests with). Options (--gpu 1,
        --max-batch-size 32, ...) are recorded for the deployment's manifests and server.
        """
        from ..notebook.annotations import parse_magic_line
        from ..records import ROLE_VARIABLES
        from .bindings import install

        try:
            role, name, _ = parse_magic_line(line)
        except JupyterDeployError as error:
            raise UsageError(str(error)) from None
        assert self.shell is not None
        result = self.shell.run_cell(cell, store_history=False)
        failure = result.error_before_exec or result.error_in_exec
        if failure is not None:
            # the cell's own traceback is shown above; failing this cell stops Run All, nbclient and papermill
            raise UsageError(f"the %%deploy {role} cell failed: {type(failure).__name__}: {failure}")
        variable = ROLE_VARIABLES.get(role)
        if variable is not None:  # this deployment's own value, whatever other deployments' cells bind later
            install(self.shell).record_magic(name, role, variable)

    @line_magic("deploy")
    def deploy_line(self, line: str) -> Any:
        """%deploy COMMAND ...: export, versions, diff, serve, stop, manifests (see %deploy COMMAND --help)."""
        try:
            argv = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"%deploy {line.strip()[:60]}: {error}") from None
        if not argv or argv[0] in {"-h", "--help", "help"}:
            print(f"usage: %deploy {{{','.join(LINE_COMMANDS)}}} ...\n\n{self.deploy_line.__doc__}")
            return None
        command = argv[0]
        if command not in LINE_COMMANDS:
            raise UsageError(f"unknown %deploy command {command!r}; use one of: {', '.join(LINE_COMMANDS)}")
        function = _load(LINE_COMMANDS[command])
        try:
            return function(self.shell, argv[1:])
        except _HelpShown:
            return None
        except JupyterDeployError as error:
            raise UsageError(str(error)) from None


def _load(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        raise UsageError(f"this %deploy command is not available ({error.name} is missing)") from None


def register(ipython: Any) -> None:
    from .bindings import install

    ipython.register_magics(DeployMagics)
    install(ipython)  # from now on, what each cell binds to example_input, predict... is remembered
    from ..project import ROOT_VARIABLE

    # the kernel's working directory is the project root; remember it for the side panel and REST
    os.environ.setdefault(ROOT_VARIABLE, os.getcwd())
