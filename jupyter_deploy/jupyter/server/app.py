"""The Jupyter server extension: one ``ExtensionApp`` that owns the REST routes and the operator settings.

Enabled by ``jupyter-config/server-config/jupyter_deploy.json`` (installed with the wheel), so
``jupyter lab`` serves ``/jupyter-deploy/...`` as soon as the package is installed. Settings are traitlets:
``jupyter lab --JupyterDeployApp.project_root=/path/to/project`` or ``c.JupyterDeployApp.project_root``.
``ROUTES`` lists the endpoints the handler modules declare; they import nothing of this module.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Int, Unicode

from ... import __version__
from ...project import project_root
from ...retrain.jobs import RetrainJobs
from . import actions, handlers
from .panel import PANEL_ROUTES

# the routes each handler module declares (``DeployHandler.route``), and the panel's
ROUTES = [*handlers.routes(handlers, actions), *PANEL_ROUTES]


class JupyterDeployApp(ExtensionApp):
    """REST front door over the same functions the CLI and the magics call."""

    name = "jupyter_deploy"
    description = "jupyter-deploy: notebook -> versioned predictor -> KServe"
    version = __version__
    load_other_extensions = True

    project_root = Unicode(
        "",
        config=True,
        help=(
            "Directory that holds deployments/ and deploy/. Empty (the default) means the Jupyter server's "
            "root_dir. Notebook paths from the side panel are always resolved inside the server's root_dir."
        ),
    )

    worker_threads = Int(
        2,
        config=True,
        help="Threads for slow requests (export, diff): they run off the event loop, this many at a time.",
    )

    kubeconfig = Unicode(
        "",
        config=True,
        help="kubeconfig for apply and status. Empty (the default): KUBECONFIG, then ~/.kube/config.",
    )

    kube_context = Unicode("", config=True, help="kubeconfig context for apply and status (default: current)")

    namespace = Unicode(
        "", config=True, help="namespace for apply and status (default: the manifests', then the context's)"
    )

    def initialize_settings(self) -> None:
        from ...serving.local import ServerRegistry

        self.executor = ThreadPoolExecutor(max_workers=self.worker_threads, thread_name_prefix="jupyter-deploy")
        self.servers = ServerRegistry("from this Jupyter server")  # the model servers the side panel started
        self.retrain_jobs = RetrainJobs()
        self.log.info("jupyter-deploy %s: project root %s", __version__, self.root)

    async def stop_extension(self) -> None:
        """Stop the model servers started from the panel, then the worker threads."""
        await asyncio.to_thread(self.servers.stop_all)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    @property
    def server_root(self) -> Path:
        """The Jupyter server's root directory: every notebook path must resolve inside it."""
        assert self.serverapp is not None
        return Path(self.serverapp.root_dir).expanduser().resolve()

    @property
    def root(self) -> Path:
        """The project root: ``project_root`` if set (relative to the server root), else the server root."""
        return project_root(self.project_root or None, base=self.server_root)
