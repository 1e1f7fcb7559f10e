"""Inside a kernel: export from the live namespace, and the ``%deploy`` subcommands that show results.

The cells come from the saved notebook when the runner says which (``JD_NOTEBOOK_PATH``: ``--execute``
and retraining), else from the kernel's own history, which is what actually ran. Retraining also sets
``JD_MLFLOW_RUN_ID`` (the run, kept when the notebook's ``mlflow`` calls consume ``MLFLOW_RUN_ID``),
``JD_NOTEBOOK_LABEL`` (the source notebook recorded in ``version.json`` when the cells come from its
parameterized copy) and ``JD_EXPORT_NO_PROMOTE=1`` (export never moves ``CURRENT``: the gate decides).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..records import ExportResult


def export_in_kernel(
    shell: Any,
    name: str | None = None,
    root: str | Path | None = None,
    notebook: str | None = None,
    allow_pickle: bool = False,
    requirements: list[str] | None = None,
    mlflow_run_id: str | None = None,
    make_current: bool = True,
    reference: str | None = None,
) -> ExportResult:
    from ..notebook.read import history_source, read_notebook
    from ..project import project_root
    from ..versions.export import ExportRequest, _relative, default_name, export
    from .bindings import install

    root = project_root(root)
    notebook = notebook or os.environ.get("JD_NOTEBOOK_PATH")
    if notebook:
        label = os.environ.get("JD_NOTEBOOK_LABEL") or _relative(notebook, root)
        source, history = read_notebook(notebook), False
    else:
        source, history, label = history_source(list(shell.history_manager.input_hist_raw[1:])), True, None
    session = shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    request = ExportRequest(
        root=root,
        source=source,
        name=name,
        notebook=label,
        history=history,
        namespace=shell.user_ns,
        allow_pickle=allow_pickle,
        requirements=list(requirements or []),
        # retraining sets both: the notebook's own mlflow.start_run() removes MLFLOW_RUN_ID from os.environ
        mlflow_run_id=mlflow_run_id or os.environ.get("JD_MLFLOW_RUN_ID") or os.environ.get("MLFLOW_RUN_ID"),
        make_current=make_current and os.environ.get("JD_EXPORT_NO_PROMOTE") != "1",
        # one naming rule: unnamed cells take the notebook's name, here the notebook of this Jupyter session
        default_name=default_name(str(session)) if session and not notebook else None,
        reference=reference,
        own_values=install(shell).own_values,  # several deployments: each exports its own example, predict...
    )
    return export(request)


def export_command(shell: Any, argv: list[str]) -> Any:
    from .magics import command_parser

    parser = command_parser("%deploy export", "Export the deployment's cells and live objects as a new version.")
    parser.add_argument("name", nargs="?", help="deployment name (default: the only one)")
    parser.add_argument("--allow-pickle", action="store_true", help="save objects torch.export cannot, by pickle")
    parser.add_argument("--requirement", action="append", default=[], help="extra requirement line")
    parser.add_argument("--notebook", help="read cells from this saved notebook instead of the history")
    parser.add_argument("--reference", metavar="VAR", help="profile this variable (training features) for monitor")
    args = parser.parse_args(argv)
    if os.environ.get("JD_NOTEBOOK_PATH") and not args.notebook:
        # a runner (export --execute, retrain) drives this kernel and exports once, after the last cell
        print("%deploy export: skipped here; the runner exports after the notebook's last cell")
        return None
    result = export_in_kernel(
        shell, args.name, args.root, args.notebook, args.allow_pickle, args.requirement, reference=args.reference
    )
    from .widgets import version_card

    return version_card(result, args.root)


def versions_command(shell: Any, argv: list[str]) -> None:
    from ..versions import store
    from .magics import command_parser

    parser = command_parser("%deploy versions", "List the versions of a deployment.")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    infos = store.list_versions(args.root, args.name)
    if not infos:
        raise store.no_versions(args.root, args.name)
    print(store.format_versions(infos, store.current_version(args.root, args.name)))


def diff_command(shell: Any, argv: list[str]) -> None:
    from ..versions import store
    from .magics import command_parser

    parser = command_parser("%deploy diff", "Show what changed between two versions.")
    parser.add_argument("name")
    parser.add_argument("old")
    parser.add_argument("new")
    args = parser.parse_args(argv)
    print(store.diff_versions(args.root, args.name, args.old, args.new) or "no differences")


def manifests_command(shell: Any, argv: list[str]) -> None:
    """``%deploy manifests NAME [options]``: the ``manifests`` flags (``cli.manifests.register``) run through
    the same ``cluster.command.write_deploy_files`` as the CLI, in the kernel's project root.

    Only that command's parser is built, as a ``MagicArgumentParser``: ``--help`` and usage errors end the cell,
    never the kernel. A JupyterDeployError is shown by the magic as one line."""
    from ..cli import manifests
    from ..cluster.command import write_deploy_files
    from ..project import project_root
    from .magics import MagicArgumentParser

    commands = MagicArgumentParser(prog="%deploy").add_subparsers()  # sub-parsers share the parser's class
    manifests.register(commands)
    parser = commands.choices["manifests"]
    parser.set_defaults(root=project_root())  # no --root: the kernel's project root, not "."
    args = parser.parse_args(argv)
    manifests.show_written(args, write_deploy_files(**manifests.deploy_files_request(args)))
