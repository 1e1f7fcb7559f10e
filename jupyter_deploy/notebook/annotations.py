"""Annotations: which cells take part in which deployment, from ``%%deploy`` lines or ``deploy:`` tags.

Also turns IPython source into plain Python: magics and shell lines are dropped the way jupytext does it,
with small regexes, keeping line numbers so errors point at the right line.
"""

from __future__ import annotations

import re
import shlex

from ..cluster.rules import is_deployment_name
from ..exceptions import AnnotationError, OptionsError
from ..project import parse_option_tokens
from ..records import ROLES, Annotation, Deployment
from .read import Cell, NotebookSource

DEPLOY_MAGIC = re.compile(r"^\s*%%deploy\b(?P<args>.*)$")
TAG_PREFIX = "deploy:"
_TAG = re.compile(rf"^{TAG_PREFIX}(?P<role>[^:]*)(?::(?P<name>.*))?$")
# a line that is a magic, a shell escape, or assigns from one (x = !ls, y = %timeit ...)
_IPYTHON_LINE = re.compile(r"^(?P<indent>\s*)(?:[%!]|\w+\s*=\s*[%!])")
_HELP_LINE = re.compile(r"^\s*[?\w.]+\?\??\s*$")
# cell magics whose body is still Python that should run; any other cell magic drops the cell
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}


def is_role_tag(tag: str) -> bool:
    """Whether a cell tag is one of ours (``deploy:ROLE[:NAME]``)."""
    return tag.startswith(TAG_PREFIX)


def role_tag(role: str, name: str | None) -> str:
    """The tag a cell carries to take ``role`` in deployment ``name`` (the default one when None)."""
    return f"{TAG_PREFIX}{role}:{name}" if name else f"{TAG_PREFIX}{role}"


def check_name(name: str, where: str | None = None) -> str:
    """Deployment names become Kubernetes names: lowercase DNS-1035 labels of at most 63 characters."""
    if not is_deployment_name(name):
        raise AnnotationError(
            f"{name!r} is not a valid deployment name: use at most 63 lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit (it becomes a Kubernetes name), "
            f"e.g. {suggest_name(name)!r}",
            where,
        )
    return name


def suggest_name(text: str) -> str:
    """A valid deployment name made from arbitrary text (a notebook file name, say)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:63].rstrip("-")
    return slug or "model"


def python_source(source: str) -> str:
    """IPython cell text -> Python text with the same line count; '' for cells that are not Python."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)[0] if lines[0].strip() != "%%" else ""
        if magic != "deploy" and magic not in _PYTHON_CELL_MAGICS:
            return ""
        lines[0] = ""
    cleaned = []
    for line in lines:
        match = _IPYTHON_LINE.match(line)
        if match or _HELP_LINE.match(line):
            indent = match.group("indent") if match else re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
            cleaned.append(f"{indent}pass" if indent else "")
        else:
            cleaned.append(line)
    return "\n".join(cleaned)


def parse_magic_line(args: str, where: str | None = None) -> tuple[str, str | None, dict]:
    """``predict --name churn --gpu 1`` -> ``("predict", "churn", {"gpu": 1})``."""
    try:
        tokens = shlex.split(args)
    except ValueError as error:
        raise AnnotationError(f"cannot parse the %%deploy line ({error})", where) from None
    if not tokens:
        raise AnnotationError(f"%%deploy needs a role: one of {', '.join(ROLES)}", where)
    role, rest = tokens[0], tokens[1:]
    check_role(role, where)
    name = None
    if "--name" in rest:
        position = rest.index("--name")
        if position + 1 >= len(rest):
            raise AnnotationError("--name needs a value", where)
        name = rest[position + 1]
        del rest[position : position + 2]
    elif any(token.startswith("--name=") for token in rest):
        token = next(token for token in rest if token.startswith("--name="))
        name = token.split("=", 1)[1]
        rest.remove(token)
    try:
        options = parse_option_tokens(rest)
    except OptionsError as error:
        raise AnnotationError(str(error), where) from None
    if name is not None:
        check_name(name, where)
    return role, name, options


def check_role(role: str, where: str | None = None) -> str:
    if role not in ROLES:
        raise AnnotationError(f"unknown role {role!r}: use one of {', '.join(ROLES)}", where)
    return role


def annotation_of(cell: Cell, default_name: str) -> Annotation | None:
    """The cell's annotation, from its first line or its tags; None for ordinary cells."""
    first_line = cell.source.lstrip("\n").split("\n", 1)[0]
    match = DEPLOY_MAGIC.match(first_line)
    tag_annotations = [tag for tag in cell.tags if is_role_tag(tag)]
    if match:
        role, name, options = parse_magic_line(match.group("args"), cell.label)
        via = "magic"
    elif tag_annotations:
        if len(tag_annotations) > 1:
            raise AnnotationError(f"several deploy tags ({', '.join(tag_annotations)}); keep one", cell.label)
        tag = _TAG.match(tag_annotations[0])
        assert tag is not None
        role = check_role(tag.group("role"), cell.label)
        name = tag.group("name")
        if name is not None:
            check_name(name, cell.label)
        options, via = {}, "tag"
    else:
        return None
    return Annotation(
        role=role,  # type: ignore[arg-type]
        name=name or default_name,
        cell_id=cell.id,
        index=cell.index,
        options=options,
        source=python_source(cell.source),
        via=via,  # type: ignore[arg-type]
    )


def find_deployments(
    source: NotebookSource, default_name: str = "model", latest_wins: bool = False
) -> dict[str, Deployment]:
    """All deployments in a notebook, by name, each with its annotated cells in notebook order.

    ``latest_wins`` is for kernel history, where re-running a cell repeats it: the last run of each role
    counts. In a saved notebook two cells with the same single-valued role are an error.
    """
    deployments: dict[str, list[Annotation]] = {}
    for cell in source.cells:
        try:
            annotation = annotation_of(cell, default_name)
        except AnnotationError:
            if latest_wins:
                continue  # in a kernel the %%deploy magic already refused this cell when it ran
            raise
        if annotation is not None:
            deployments.setdefault(annotation.name, []).append(annotation)
    result = {}
    for name, cells in deployments.items():
        result[name] = Deployment(name=name, cells=_dedupe_roles(name, cells, latest_wins))
    return result


def _dedupe_roles(name: str, cells: list[Annotation], latest_wins: bool) -> list[Annotation]:
    by_role: dict[str, Annotation] = {}
    for cell in cells:
        previous = by_role.get(cell.role)
        if previous is not None and not latest_wins:
            raise AnnotationError(
                f"deployment {name!r} has two {cell.role!r} cells ({previous.cell_id} and {cell.cell_id}); "
                f"keep one, or give one of them another --name"
            )
        by_role[cell.role] = cell
    return sorted(by_role.values(), key=lambda cell: cell.index)


def select_deployment(deployments: dict[str, Deployment], name: str | None, where: str) -> Deployment:
    """The deployment to export: the named one, or the only one; checks that it has a predict cell."""
    if not deployments:
        raise AnnotationError(
            f"{where} has no annotated cells: mark the cell that defines predict() with '%%deploy predict' "
            "or the cell tag 'deploy:predict'"
        )
    if name is None:
        if len(deployments) > 1:
            raise AnnotationError(
                f"{where} has several deployments ({', '.join(sorted(deployments))}); choose one with --name"
            )
        name = next(iter(deployments))
    check_name(name)
    if name not in deployments:
        raise AnnotationError(f"{where} has no deployment named {name!r}; it has: {', '.join(sorted(deployments))}")
    deployment = deployments[name]
    if not deployment.role("predict"):
        raise AnnotationError(
            f"deployment {name!r} has no predict cell: mark the cell that defines predict() with "
            f"'%%deploy predict --name {name}' or the tag 'deploy:predict:{name}'"
        )
    return deployment
