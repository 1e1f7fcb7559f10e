"""REST handlers for the actions on a deployment: manifests, local serving, retraining, apply / status.

Thin front doors over ``manifests``, ``serving.local``, ``retrain`` (through ``retrain.jobs``), ``mlflow_store`` and
``kube``; ``DeployHandler`` (``handlers.py``) does authentication, paths, bodies and the error mapping.
"""

from __future__ import annotations

import os
from typing import Any

import tornado.web
from pydantic import BaseModel, ConfigDict, Field

from ...exceptions import NotFoundError
from .handlers import DeployHandler

# --- wire models (mirrored by labextension/models.ts) -------------------------------------------------


class ManifestFile(BaseModel):
    path: str = Field(description="relative to the project root: deploy/NAME/...")
    text: str


class ManifestPreview(BaseModel):
    """``GET /jupyter-deploy/manifests/NAME``: the files the current version would get, nothing written."""

    name: str
    version: str
    files: list[ManifestFile]


class ManifestsWritten(BaseModel):
    """``POST /jupyter-deploy/manifests/NAME``: ``deploy/NAME/`` written (validated, atomically)."""

    name: str
    version: str
    files: list[str]
    changed: bool


class ServeStatus(BaseModel):
    """``GET|POST|DELETE /jupyter-deploy/serve/NAME``: the local model server of a deployment."""

    name: str
    running: bool
    version: str | None = None
    url: str | None = None
    v1: str | None = None
    v2: str | None = None
    curl: str | None = Field(default=None, description="a ready-to-paste request built from example_input")
    example: str | None = Field(default=None, description="the v1 request body (JSON) from example_input")


class RetrainRequest(BaseModel):
    """``POST /jupyter-deploy/retrain``: re-run the notebook at ``path`` with ``parameters``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="notebook path relative to the server root")
    name: str | None = None
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    promote_if: str | None = Field(default=None, description='the promotion gate, e.g. "accuracy >= current"')


class RunList(BaseModel):
    """``GET /jupyter-deploy/runs/NAME``: the retraining runs, newest first."""

    name: str
    runs: list[dict[str, Any]]


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="let the cluster validate without persisting anything")
    validate_first: bool = Field(default=True, description="validate deploy/NAME offline first (CLI: no --no-validate)")


class ClusterResult(BaseModel):
    """``POST /jupyter-deploy/apply/NAME`` and ``GET /jupyter-deploy/status/NAME``: what the cluster said.

    Apply is ``kube.apply``, the CLI's function, in one call: ``result.dropped`` lists the fields the
    cluster dropped (the CLI warns and exits 1 on them; the panel shows them as a failure)."""

    name: str
    result: dict[str, Any]


# --- endpoints ----------------------------------------------------------------------------------------


class ActionHandler(DeployHandler):
    def cluster(self) -> dict[str, Any]:
        app = self.app
        return {
            "kubeconfig": app.kubeconfig or None,
            "context": app.kube_context or None,
            "namespace": app.namespace or None,
        }


class ManifestsHandler(ActionHandler):
    route = "manifests/{name}"

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        self.require_action("manifests")
        from ...cluster.manifests import preview_manifests

        preview = await self.run_blocking(preview_manifests, self.root, self.deployment(name))
        files = [ManifestFile(path=path, text=text) for path, text in preview["files"].items()]
        self.reply(ManifestPreview(name=preview["name"], version=preview["version"], files=files))

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        self.require_action("manifests")
        from ...cluster.manifests import write_manifests

        result = await self.run_blocking(write_manifests, self.root, self.deployment(name))
        files = [self.relative(path) for path in result["files"]]
        self.reply(ManifestsWritten(name=name, version=result["version"], files=files, changed=result["changed"]))


def serve_status(name: str, server: Any) -> ServeStatus:
    if server is None or not server.running:
        return ServeStatus(name=name, running=False)
    return ServeStatus(
        name=name,
        running=True,
        version=server.version,
        url=server.base_url,
        v1=server.v1_url,
        v2=server.v2_url,
        curl=server.curl(),
        example=server.example,
    )


class ServeHandler(ActionHandler):
    """The servers live in ``app.servers`` (``serving.local.ServerRegistry``, as ``%deploy serve``'s do):
    starting again replaces the running server, one start or stop at a time per deployment."""

    route = "serve/{name}"

    @tornado.web.authenticated
    def get(self, name: str) -> None:
        self.deployment(name)
        self.reply(serve_status(name, self.app.servers.get(name)))

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        """Start (or restart) the current version on 127.0.0.1, a free port; 201 once it answers."""
        self.require_action("serve")
        self.deployment(name)
        server = await self.run_blocking(self.app.servers.start, self.root, name, port=0)
        self.reply(serve_status(name, server), status=201)

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        self.deployment(name)
        await self.run_blocking(self.app.servers.stop, name)
        self.reply(serve_status(name, None))


class RetrainHandler(ActionHandler):
    route = "retrain"

    @tornado.web.authenticated
    def post(self) -> None:
        """Start a retraining job in the background; 202 with its id (poll ``GET retrain/JOB``)."""
        self.require_action("retrain")
        request = self.body(RetrainRequest)
        notebook = self.resolve_notebook(request.path)
        parameters = [
            (key, str(value).lower() if isinstance(value, bool) else str(value))
            for key, value in request.parameters.items()
        ]
        job = self.app.retrain_jobs.start(
            notebook,
            request.path,
            self.root,
            request.name,
            parameters=parameters,
            promote_if=request.promote_if,
        )
        self.reply(job, status=202)


class RetrainJobHandler(ActionHandler):
    route = "retrain/{job}"

    @tornado.web.authenticated
    def get(self, job: str) -> None:
        self.reply(self.app.retrain_jobs.get(job))

    @tornado.web.authenticated
    async def delete(self, job: str) -> None:
        """Cancel a running job: its kernel stops, its MLflow run ends FAILED; the job once it has stopped."""
        self.reply(await self.run_blocking(self.app.retrain_jobs.cancel, job))


class RunsHandler(ActionHandler):
    route = "runs/{name}"

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        from ...notebook.annotations import check_name
        from ...retrain.mlflow_store import DB_FILE

        check_name(name)
        limit = self.int_argument("limit", 20)
        if not os.environ.get("MLFLOW_TRACKING_URI") and not (self.root / DB_FILE).is_file():
            raise NotFoundError(f"no retraining runs for {name!r}: retrain the notebook first")
        runs = await self.run_blocking(_runs, self.root, name, limit)
        self.reply(RunList(name=name, runs=runs))


def _runs(root: Any, name: str, limit: int) -> list[dict[str, Any]]:
    from ...retrain.mlflow_store import MlflowStore

    return MlflowStore(root).runs(name, limit=limit)


class ApplyHandler(ActionHandler):
    route = "apply/{name}"

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        self.require_action("apply")
        from ...cluster.kube import apply

        request = self.body(ApplyRequest)
        result = await self.run_blocking(
            apply,
            self.root,
            self.deployment(name),
            dry_run=request.dry_run,
            validate=request.validate_first,
            **self.cluster(),
        )
        self.reply(ClusterResult(name=name, result=result))


class StatusHandler(ActionHandler):
    route = "status/{name}"

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        self.require_action("apply")
        from ...cluster.kube import status

        result = await self.run_blocking(status, self.root, self.deployment(name), **self.cluster())
        self.reply(ClusterResult(name=name, result=result))
