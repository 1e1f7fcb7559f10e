"""REST handlers that answer the side panel's questions about rules, so the browser decides none of them.

- ``POST /jupyter-deploy/tag``: the tags a cell should carry to take a role (the ``deploy:ROLE[:NAME]``
  grammar, and which deployment a newly tagged cell joins, live in ``notebook.annotations``, not the browser);
- ``GET /jupyter-deploy/parameters?path=NB``: the retraining parameters the notebook declares, as
  ``retrain`` will check them (``retrain.parameters``);
- ``POST /jupyter-deploy/outcome``: what an action's answer means (busy, done, failed) and the words to show
  (``outcomes.py``), so success and wording are the server's, as they are the CLI's.
"""

from __future__ import annotations

from pathlib import Path

import tornado.web
from pydantic import BaseModel, ConfigDict, Field

from ...exceptions import JupyterDeployError
from .handlers import NAMESPACE, DeployHandler
from .outcomes import ActionAnswer


class TagRequest(BaseModel):
    """``POST /jupyter-deploy/tag``: give the cell (its current ``tags``) ``role``; "" removes its role."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="notebook path relative to the server root")
    role: str = Field(description='a role from GET /jupyter-deploy/info, or "" to remove the cell\'s role')
    tags: list[str] = Field(default_factory=list, description="the cell's tags now")
    name: str | None = Field(default=None, description="the deployment; default: the notebook's only one")


class TagResult(BaseModel):
    tags: list[str] = Field(description="the cell's tags to write: other tags kept, one deploy tag at most")
    role: str | None
    name: str | None = Field(description="the deployment named in the tag (None: the notebook's default)")


class DeclaredParameter(BaseModel):
    name: str
    type: str | None = Field(description="int, float, str, bool, list, dict, tuple; None: any value")
    default: str = Field(description="the default as written in the parameters cell")


class ParameterList(BaseModel):
    """``GET /jupyter-deploy/parameters?path=NB``: what ``retrain -p KEY VALUE`` accepts for this notebook."""

    path: str
    parameters: list[DeclaredParameter]


def tags_for_role(notebook: Path, role: str, tags: list[str], name: str | None) -> TagResult:
    """The one rule: ``deploy:ROLE`` or ``deploy:ROLE:NAME``; a new cell joins the notebook's only
    deployment by name (so it stays there when the notebook is renamed), else the default one."""
    from ...notebook.annotations import check_name, check_role, is_role_tag, role_tag

    kept = [tag for tag in tags if not is_role_tag(tag)]
    if not role:
        return TagResult(tags=kept, role=None, name=None)
    check_role(role)
    if name:
        check_name(name)
    else:
        name = _only_deployment(notebook)
    return TagResult(tags=[*kept, role_tag(role, name)], role=role, name=name)


def _only_deployment(notebook: Path) -> str | None:
    from ...notebook.annotations import find_deployments, suggest_name
    from ...notebook.read import read_notebook

    try:
        deployments = find_deployments(read_notebook(notebook), suggest_name(notebook.stem))
    except JupyterDeployError:  # a notebook whose annotations do not parse yet: the default deployment
        return None
    return next(iter(deployments)) if len(deployments) == 1 else None


def declared(notebook: Path, path: str) -> ParameterList:
    from ...retrain.parameters import declared_parameters

    items = declared_parameters(notebook).values()
    return ParameterList(
        path=path,
        parameters=[DeclaredParameter(name=item.name, type=item.type_name, default=item.default) for item in items],
    )


class TagHandler(DeployHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        request = self.body(TagRequest)
        notebook = self.resolve_notebook(request.path)
        self.reply(await self.run_blocking(tags_for_role, notebook, request.role, request.tags, request.name))


class ParametersHandler(DeployHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path")
        notebook = self.resolve_notebook(path)
        self.reply(await self.run_blocking(declared, notebook, path))


class OutcomeHandler(DeployHandler):
    @tornado.web.authenticated
    def post(self) -> None:
        self.reply(self.body(ActionAnswer).outcome())


PANEL_ROUTES: list[tuple[str, type[DeployHandler]]] = [
    (rf"/{NAMESPACE}/tag", TagHandler),
    (rf"/{NAMESPACE}/parameters", ParametersHandler),
    (rf"/{NAMESPACE}/outcome", OutcomeHandler),
]
