"""REST handlers: a thin front door over the functions the CLI and the magics use.

Every handler derives from ``DeployHandler``, which does the shared work once:
- authentication (each verb carries ``@tornado.web.authenticated``; XSRF is checked by Jupyter's
  ``APIHandler`` for non-GET requests made with cookies),
- notebook paths resolved inside the server's root directory (anything outside: 403),
- request bodies parsed into pydantic models (invalid: 400),
- errors turned into JSON ``{"message", "error", ...fields}`` with the status each ``JupyterDeployError``
  subclass declares (``.status``), so no handler repeats try/except,
- slow calls run in the extension's worker threads, off the event loop.

Adding an area (serving, manifests, retraining): write a handler class here (or in its own module) with its
``route``, and name the action in ``ACTIONS`` so the side panel shows its button; ``app.ROUTES`` collects the
routes of the handler modules. Nothing here imports ``app`` (the app imports the handlers): ``DeployApp``
says what the handlers use of it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import pydantic
import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ConfigDict, Field

from ... import __version__
from ...error_wire import error_fields
from ...exceptions import JupyterDeployError, NotFoundError
from ...records import ROLES, Annotation, VersionInfo

if TYPE_CHECKING:
    from ...retrain.jobs import RetrainJobs
    from ...serving.local import ServerRegistry

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

NAMESPACE = "jupyter-deploy"

# action -> the module whose presence makes it available; the panel shows a button per available action
ACTIONS: dict[str, str] = {
    "export": "jupyter_deploy.versions.export",
    "manifests": "jupyter_deploy.cluster.manifests",
    "serve": "jupyter_deploy.serving.local",
    "retrain": "jupyter_deploy.retrain.run",
    "apply": "jupyter_deploy.cluster.kube",
}


# --- wire models (mirrored by labextension/models.ts) -------------------------------------------------


class ServerInfo(BaseModel):
    """``GET /jupyter-deploy/info``: what this server offers."""

    version: str
    roles: list[str]
    actions: list[str] = Field(description="actions the panel may offer (export, serve, ...)")


class DeploymentView(BaseModel):
    """One deployment of a notebook: its annotated cells and its versions."""

    name: str
    cells: list[Annotation]
    versions: list[VersionInfo]
    current: str | None = None


class NotebookDeployments(BaseModel):
    """``GET /jupyter-deploy/deployments?path=NB``."""

    path: str
    default_name: str = Field(description="the name cells get when their tag or magic names none")
    deployments: list[DeploymentView]


class VersionList(BaseModel):
    """``GET /jupyter-deploy/versions/NAME``."""

    name: str
    current: str | None
    versions: list[VersionInfo]


class VersionDiff(BaseModel):
    """``GET /jupyter-deploy/diff/NAME?a=v1&b=v2``: a unified diff of the two versions' files."""

    name: str
    a: str
    b: str
    diff: str


class ExportRequest(BaseModel):
    """``POST /jupyter-deploy/export``: the saved notebook at ``path`` -> ``deployments/NAME/vN/``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="notebook path relative to the server root")
    name: str | None = Field(default=None, description="the deployment to export; needed when there are several")
    execute: bool = Field(
        default=False,
        description="run the notebook in a fresh kernel first and export its live objects (CLI: --execute)",
    )


# --- base handler -----------------------------------------------------------------------------------


class DeployApp(Protocol):
    """What the handlers use of the extension app (``app.JupyterDeployApp``, which owns these settings)."""

    executor: Executor
    servers: ServerRegistry
    retrain_jobs: RetrainJobs
    kubeconfig: str
    kube_context: str
    namespace: str

    @property
    def root(self) -> Path: ...

    @property
    def server_root(self) -> Path: ...


class DeployHandler(ExtensionHandlerMixin, APIHandler):
    """Shared behaviour of every jupyter-deploy endpoint."""

    route: ClassVar[str | None] = None
    """the endpoint's path under ``/jupyter-deploy/``; ``{name}`` is a deployment, ``{job}`` a retraining job"""

    @property
    def app(self) -> DeployApp:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def root(self) -> Path:
        return self.app.root

    def deployment(self, name: str) -> str:
        """``name`` checked and known (it has a version), else 400 / 404."""
        from ...notebook.annotations import check_name
        from ...versions.store import list_versions, no_versions

        check_name(name)
        if not list_versions(self.root, name):
            raise no_versions(self.root, name)
        return name

    def resolve_notebook(self, relative: str) -> Path:
        """A path from the client -> an absolute path inside the server root; anything else is refused."""
        server_root = self.app.server_root
        check_path_text(relative)
        candidate = Path(relative)
        if candidate.is_absolute() or relative.startswith("~"):
            raise tornado.web.HTTPError(
                403, f"{relative}: absolute paths are refused; send a path relative to the server root"
            )
        resolved = (server_root / candidate).resolve()
        if not resolved.is_relative_to(server_root):
            raise tornado.web.HTTPError(403, f"{relative}: the path is outside the server root")
        try:
            found = resolved.is_file()
        except OSError as error:  # the file system refuses the name: say why, not where
            raise tornado.web.HTTPError(400, f"{relative[:80]}: {error.strerror or 'invalid path'}") from None
        if not found:
            raise NotFoundError(f"{relative}: no such notebook")
        return resolved

    def relative(self, path: str | Path) -> str:
        """A server-side path as the client should see it: relative to the server root when inside it."""
        resolved = Path(path).resolve()
        server_root = self.app.server_root
        return resolved.relative_to(server_root).as_posix() if resolved.is_relative_to(server_root) else str(path)

    def require_action(self, action: str) -> None:
        if importlib.util.find_spec(ACTIONS[action]) is None:
            raise tornado.web.HTTPError(501, f"{action} is not available in jupyter-deploy {__version__}")

    def int_argument(self, name: str, default: int, minimum: int = 1, maximum: int = 10_000) -> int:
        """An integer query argument, checked: anything else is a 400 that names it."""
        text = self.get_query_argument(name, str(default))
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if not minimum <= value <= maximum:
            raise tornado.web.HTTPError(400, f"{name}={text[:40]!r}: expected an integer from {minimum} to {maximum}")
        return value

    def body(self, model: type[M]) -> M:
        try:
            return model.model_validate_json(self.request.body or b"{}")
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
            )
            raise tornado.web.HTTPError(400, f"invalid request body: {problems}") from None

    async def run_blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.app.executor, lambda: function(*args, **kwargs))

    def reply(self, model: BaseModel, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(model.model_dump_json())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The one place where errors become HTTP statuses and JSON bodies."""
        error = kwargs["exc_info"][1] if "exc_info" in kwargs else None
        body: dict[str, Any]
        if isinstance(error, JupyterDeployError):
            self.set_status(error.status)
            body = {**error_fields(error), "message": error.message, "error": type(error).__name__}
        elif isinstance(error, tornado.web.HTTPError):
            body = {"message": error.log_message or error.reason or self._reason, "error": "HTTPError"}
        else:
            body = {"message": f"internal error: {error or self._reason}", "error": type(error).__name__}
        body["message"] = self.hide_paths(str(body["message"]))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def hide_paths(self, message: str) -> str:
        """Where the server's files live is none of the client's business: roots become relative."""
        try:
            roots = {str(self.root), str(self.app.server_root)}
        except Exception:  # the app is not set up (an error before the extension loaded)
            return message
        for root in sorted(roots, key=len, reverse=True):
            message = message.replace(root + "/", "").replace(root, ".")
        return message

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, JupyterDeployError):
            self.log.warning("%s %s: %s", self.request.method, self.request.uri, value)
        else:
            super().log_exception(typ, value, tb)


def check_path_text(relative: str) -> None:
    """What no file name can hold: refused before the file system sees it (it would raise, or be a 500)."""
    if "\0" in relative:
        raise tornado.web.HTTPError(400, "the path contains a NUL byte")
    if any(len(part.encode()) > 255 for part in relative.split("/")):
        raise tornado.web.HTTPError(400, "a path segment is longer than 255 bytes")


# --- endpoints ----------------------------------------------------------------------------------------


class InfoHandler(DeployHandler):
    route = "info"

    @tornado.web.authenticated
    def get(self) -> None:
        actions = [action for action, module in ACTIONS.items() if importlib.util.find_spec(module)]
        self.reply(ServerInfo(version=__version__, roles=list(ROLES), actions=actions))


class DeploymentsHandler(DeployHandler):
    route = "deployments"

    @tornado.web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path")
        notebook = self.resolve_notebook(path)
        self.reply(await self.run_blocking(notebook_deployments, notebook, self.root, path))


class VersionsHandler(DeployHandler):
    route = "versions/{name}"

    @tornado.web.authenticated
    def get(self, name: str) -> None:
        from ...versions.store import current_version, list_versions

        self.deployment(name)
        self.reply(
            VersionList(name=name, current=current_version(self.root, name), versions=list_versions(self.root, name))
        )


class DiffHandler(DeployHandler):
    route = "diff/{name}"

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        from ...notebook.annotations import check_name
        from ...versions.store import diff_versions

        check_name(name)
        a, b = self.get_query_argument("a"), self.get_query_argument("b")
        diff = await self.run_blocking(diff_versions, self.root, name, a, b)
        self.reply(VersionDiff(name=name, a=a, b=b, diff=diff))


class ExportHandler(DeployHandler):
    route = "export"

    @tornado.web.authenticated
    async def post(self) -> None:
        self.require_action("export")
        from ...versions.execute import execute_and_export
        from ...versions.export import export_notebook

        request = self.body(ExportRequest)
        notebook = self.resolve_notebook(request.path)
        export = execute_and_export if request.execute else export_notebook
        result = await self.run_blocking(export, notebook, self.root, name=request.name)
        result = result.model_copy(update={"path": self.relative(result.path)})
        self.reply(result, status=201 if result.created else 200)


def notebook_deployments(notebook: Path, root: Path, path: str) -> NotebookDeployments:
    """The annotations of the saved notebook and, for each deployment, the versions already exported."""
    from ...notebook.annotations import find_deployments, suggest_name
    from ...notebook.read import read_notebook
    from ...versions.store import current_version, list_versions

    default_name = suggest_name(notebook.stem)
    deployments = find_deployments(read_notebook(notebook), default_name)
    views = [
        DeploymentView(
            name=name,
            cells=deployment.cells,
            versions=list_versions(root, name),
            current=current_version(root, name),
        )
        for name, deployment in sorted(deployments.items())
    ]
    return NotebookDeployments(path=path, default_name=default_name, deployments=views)


ROUTE_PARTS = {"name": r"(?P<name>[^/]+)", "job": r"(?P<job>[0-9a-f]+)"}


def routes(*modules: ModuleType) -> list[tuple[str, type[DeployHandler]]]:
    """Tornado's routes for the handler classes that ``modules`` define with a ``route``."""
    return [
        (f"/{NAMESPACE}/{handler.route.format(**ROUTE_PARTS)}", handler)
        for module in modules
        for handler in vars(module).values()
        if isinstance(handler, type)
        and issubclass(handler, DeployHandler)
        and handler.__module__ == module.__name__
        and handler.route
    ]
