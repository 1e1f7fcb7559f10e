"""jupyter-deploy: from the notebook where a model was built to a KServe deployment, kept fresh.

Importing this package must stay cheap (``%load_ext jupyter_deploy`` runs on every kernel start of the
``jupyter-deploy`` kernel): everything heavy is imported inside the functions that need it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
# the distribution's name on PyPI: ``jupyter-deploy`` there is an unrelated project with the same import name
DISTRIBUTION = "jupyter-deploy-kserve"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_deploy``: registers ``%%deploy`` / ``%deploy``."""
    from .jupyter.magics import register

    register(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .jupyter.server.app import JupyterDeployApp

    return [{"module": "jupyter_deploy.jupyter.server.app", "app": JupyterDeployApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-deploy"}]
