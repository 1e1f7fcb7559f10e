"""``%deploy serve NAME`` and ``%deploy stop NAME``: a local model server in the background of a kernel.

The server is a child process (``jupyter_deploy.serving.local``); the cell returns at once with a card showing the
URL, the example request and the status. The servers stop with ``%deploy stop`` or when the kernel exits.
"""

from __future__ import annotations

import html
from typing import Any


def serve_command(shell: Any, argv: list[str]) -> Any:
    from ..runtime.listen import add_serving_arguments, serving_arguments
    from ..serving.local import REGISTRY
    from .magics import command_parser

    parser = command_parser("%deploy serve", "Serve a deployment's version locally, in the background.")
    parser.add_argument("spec", metavar="NAME[@vN]")
    add_serving_arguments(parser)  # the flags of jupyter-deploy serve and of the predictor itself
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    args = parser.parse_args(argv)
    return server_card(REGISTRY.start(args.root, args.spec, **serving_arguments(args)))


def stop_command(shell: Any, argv: list[str]) -> Any:
    from ..serving.local import REGISTRY
    from .magics import MagicArgumentParser

    parser = MagicArgumentParser(prog="%deploy stop", description="Stop a server started by %deploy serve.")
    parser.add_argument("name", nargs="?", help="deployment (default: every server this kernel started)")
    args = parser.parse_args(argv)
    stopped = [REGISTRY.stop(args.name)] if args.name else REGISTRY.stop_all()
    if not stopped:
        print("no servers are running")
        return None
    return server_card(*stopped)


def card_html(server: Any) -> str:
    running = server.running
    status = "running" if running else f"stopped (exit code {server.process.returncode})"
    colour = "#2e7d32" if running else "#757575"
    options = ", ".join(f"{key}={value}" for key, value in sorted(server.options.items())) or "no batching"
    rows = [
        f"<b>{html.escape(server.name)}</b> {server.version} "
        f"<span style='color:{colour}'>{status}</span> <span style='color:#757575'>({html.escape(options)})</span>",
    ]
    if running:
        rows += [
            f"v1: <code>{html.escape(server.v1_url)}</code>",
            f"v2: <code>{html.escape(server.v2_url)}</code>",
            f"<details><summary>example request</summary><pre style='font-size:11px;white-space:pre-wrap'>"
            f"{html.escape(server.curl())}</pre></details>",
        ]
    if server.log:
        rows.append(f"<span style='color:#757575'>log: {html.escape(str(server.log))}</span>")
    return (
        "<div style='border:1px solid #ccc;border-radius:6px;padding:8px 12px;font-family:sans-serif'>"
        + "<br>".join(rows)
        + "</div>"
    )


def summary(server: Any) -> str:
    if server.running:
        return f"{server.name} {server.version}: serving at {server.base_url} ({server.v1_url})"
    return f"{server.name} {server.version}: stopped"


def server_card(*servers: Any) -> Any:
    """An ipywidgets card per server; its plain-text form is one line per server."""
    import ipywidgets as widgets

    from .widgets import Card

    box = widgets.VBox([widgets.HTML(card_html(server)) for server in servers])
    return Card(box, "\n".join(summary(server) for server in servers))
