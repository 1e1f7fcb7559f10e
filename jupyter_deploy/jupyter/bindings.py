"""Each deployment's own ``example_input``, ``predict`` and ``reference_input`` in a kernel that ran several.

After Run All the kernel's role variables (``ROLE_VARIABLES``: ``example_input``, ``predict``, ``preprocess``,
``postprocess``, ``reference_input``) belong to whichever cell bound them last, often another deployment's.
So the kernel remembers what each cell bound, from the moment the extension is loaded:
- a ``post_run_cell`` hook records, for every cell that binds a role variable (in its source, or by making it
  hold another object), the value under the cell's text, and under its id when the front end sends one
  (JupyterLab does; nbclient, which ``export --execute`` and papermill use, does not). Tagged cells, which no
  magic runs, are covered this way;
- the ``%%deploy ROLE [--name NAME]`` magic also records its cell's value under the deployment's name, for a
  magic cell whose text was edited after it ran.
At export, ``own_values`` looks up the values of a deployment's role cells (by id, by text, by the magic's name)
and export reads them instead of the kernel's. A role cell with no record uses the kernel's value, unless that
value was bound by another deployment's cell: then the export stops and names the cell to run.

Two deployments whose role cells have the same text share the record of whichever ran last (the kernel cannot
tell them apart without ids). A bounded number of records is kept per variable (``KEEP``).
"""

from __future__ import annotations

import ast
import re
from collections import OrderedDict
from typing import Any

# the role variables (``records.ROLE_VARIABLES``' values, spelled out: the hook must not import pydantic models
# into every kernel; a unit test keeps the two equal)
VARIABLES = ("predict", "preprocess", "postprocess", "example_input", "reference_input")
_MENTIONED = re.compile(rf"(?<![\w.])(?:{'|'.join(VARIABLES)})\b")
KEEP = 64  # records per variable (two per cell run in JupyterLab: its id and its text)
ATTRIBUTE = "_jupyter_deploy_bindings"
_ABSENT = object()

Key = tuple[str, str]  # ("id", cell id) or ("text", cell text)


def install(shell: Any) -> Bindings:
    """The shell's registry, created (and its hooks registered) once."""
    bindings: Bindings | None = getattr(shell, ATTRIBUTE, None)
    if bindings is None:
        bindings = Bindings(shell)
        shell.events.register("pre_run_cell", bindings.pre_run_cell)
        shell.events.register("post_run_cell", bindings.post_run_cell)
        setattr(shell, ATTRIBUTE, bindings)
    return bindings


def cell_keys(text: str, cell_id: str | None = None) -> list[Key]:
    keys: list[Key] = [("id", cell_id)] if cell_id else []
    stripped = text.strip()
    return [*keys, ("text", stripped)] if stripped else keys


class Bindings:
    """What each cell bound to the role variables, and which cell bound the kernel's current values."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.by_cell: dict[str, OrderedDict[Key, Any]] = {name: OrderedDict() for name in VARIABLES}
        self.by_magic: dict[tuple[str | None, str], Any] = {}
        self.last: dict[str, list[Key]] = {}
        self._before: list[dict[str, int]] = []  # a stack: the magic runs its cell inside the outer run

    # -- recording ------------------------------------------------------------------------------------------
    def pre_run_cell(self, info: Any) -> None:
        namespace = self.shell.user_ns
        self._before.append({name: id(namespace[name]) for name in VARIABLES if name in namespace})

    def post_run_cell(self, result: Any) -> None:
        if not self._before:
            return
        before = self._before.pop()
        info = result.info
        text = info.raw_cell or ""
        keys = cell_keys(text, getattr(info, "cell_id", None))
        if not keys:
            return
        failed = result.error_before_exec is not None or result.error_in_exec is not None
        # a cell that failed may not have reached its assignment: only a changed object counts then
        in_source = set() if failed else self._bound_in_source(text)
        namespace = self.shell.user_ns
        for name in VARIABLES:
            value = namespace.get(name, _ABSENT)
            if value is _ABSENT or (id(value) == before.get(name) and name not in in_source):
                continue
            records = self.by_cell[name]
            for key in keys:
                records[key] = value
                records.move_to_end(key)
            while len(records) > KEEP:
                records.popitem(last=False)
            self.last[name] = keys

    def record_magic(self, name: str | None, role: str, variable: str) -> None:
        """What a ``%%deploy ROLE --name NAME`` cell bound (``name`` None: the unnamed deployment)."""
        value = self.shell.user_ns.get(variable, _ABSENT)
        if value is not _ABSENT:
            self.by_magic[(name, role)] = value

    def _bound_in_source(self, text: str) -> set[str]:
        """The role variables the cell's top-level statements bind (IPython syntax turned into Python first)."""
        if not _MENTIONED.search(text):  # most cells: no parse at all (``model.predict(x)`` is no binding)
            return set()
        first, _, rest = text.lstrip("\n").partition("\n")
        if first.lstrip().startswith("%%deploy"):
            text = rest  # the magic runs the rest as a cell of its own
        try:
            tree = ast.parse(self.shell.transform_cell(text))
        except Exception:  # not Python after all (the cell itself reported it): no binding seen in source
            return set()
        names: set[str] = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            else:
                names.update(
                    child.id
                    for child in ast.walk(node)
                    if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store)
                )
        return names & set(VARIABLES)

    # -- looking up ---------------------------------------------------------------------------------------
    def own_values(self, deployment: Any, deployments: dict[str, Any], cells: dict[str, Any]) -> dict[str, Any]:
        """The role variables as ``deployment``'s own cells bound them: what export reads over the kernel's.

        ``deployments``: every deployment of the notebook (or history); ``cells``: its cells by id."""
        from ..records import ROLE_VARIABLES

        values: dict[str, Any] = {}
        for annotation in deployment.cells:
            variable = ROLE_VARIABLES.get(annotation.role)
            if variable is None:
                continue
            cell = cells.get(annotation.cell_id)
            found = self._recorded(variable, annotation, cell)
            if found is not _ABSENT:
                values[variable] = found
            else:
                self._check_kernel_value(variable, annotation, cell, deployment, deployments, cells)
        return values

    def _recorded(self, variable: str, annotation: Any, cell: Any) -> Any:
        records = self.by_cell[variable]
        for key in cell_keys(cell.source, cell.id) if cell is not None else []:
            if key in records:
                return records[key]
        if annotation.via == "magic" and cell is not None:
            return self.by_magic.get((_magic_name(cell.source), annotation.role), _ABSENT)
        return _ABSENT

    def _check_kernel_value(
        self,
        variable: str,
        annotation: Any,
        cell: Any,
        deployment: Any,
        deployments: dict[str, Any],
        cells: dict[str, Any],
    ) -> None:
        """The kernel's value is used only when it was not bound by another deployment's cell."""
        from ..exceptions import ClosureError

        last = set(self.last.get(variable, ()))
        if not last:
            return
        for other in deployments.values():
            if other.name == deployment.name:
                continue
            for theirs in other.role(annotation.role):
                their_cell = cells.get(theirs.cell_id)
                if their_cell is None or not last & set(cell_keys(their_cell.source, their_cell.id)):
                    continue
                mine = cell.label if cell is not None else annotation.cell_id
                raise ClosureError(
                    f"{variable} in the kernel was bound by {their_cell.label}, the {annotation.role} cell of "
                    f"deployment {other.name!r}, and the {annotation.role} cell of {deployment.name!r} ({mine}) "
                    "has not run as it is now since jupyter-deploy was loaded: run that cell, then export again",
                    name=variable,
                    cell=annotation.cell_id,
                )


def _magic_name(source: str) -> str | None:
    """The ``--name`` a ``%%deploy`` line gives (None: the unnamed deployment, or not parseable)."""
    from ..exceptions import JupyterDeployError
    from ..notebook.annotations import DEPLOY_MAGIC, parse_magic_line

    match = DEPLOY_MAGIC.match(source.lstrip("\n").split("\n", 1)[0])
    if match is None:
        return None
    try:
        return parse_magic_line(match.group("args"))[1]
    except JupyterDeployError:
        return None
