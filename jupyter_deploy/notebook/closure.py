"""The closure: every cell-level definition the annotated cells need, found statically with ``ast``.

Cells are split into top-level statements. A statement is a *definition* when it is an import, a
function or class, or an assignment of a constant expression (literals and arithmetic on other
constants, no calls); those are copied into the predictor. A name whose latest binding is anything else
(``model = train(X)``) is *live*: a kernel captures its value as an artifact, a saved notebook cannot.
Names are resolved to the latest binding before the cell that uses them (notebook order); in a kernel,
whose history is execution order, to the latest binding anywhere.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..exceptions import ClosureError
from ..records import ROLE_VARIABLES, Deployment
from .annotations import python_source
from .read import Cell, NotebookSource

BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}
# literals, names and arithmetic, never calls: what a constant expression (here) and an argument of a torch
# module's constructor call (``capture/torch_build``) may be made of
VALUE_NODES = (
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Load,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Set,
    ast.BinOp,
    ast.UnaryOp,
    ast.operator,
    ast.unaryop,
)
_CONSTANT_NODES = (
    *VALUE_NODES,
    ast.BoolOp,
    ast.Compare,
    ast.boolop,
    ast.cmpop,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Starred,
)


@dataclass
class Statement:
    """One top-level statement of a cell, with the names it binds and the module names it reads."""

    cell: Cell
    position: tuple[int, int]
    node: ast.stmt
    text: str
    defines: frozenset[str]
    kind: str  # "import" | "def" | "constant" | "other"
    _uses: frozenset[str] | None = None

    @property
    def uses(self) -> frozenset[str]:
        if self._uses is None:
            self._uses = free_names(self.text) - self.defines
        return self._uses

    @property
    def is_definition(self) -> bool:
        return self.kind != "other"


@dataclass
class Closure:
    """What the predictor module is made of."""

    definitions: list[Statement] = field(default_factory=list)
    load: list[Statement] = field(default_factory=list)
    example: list[Statement] = field(default_factory=list)
    live: dict[str, Statement | None] = field(default_factory=dict)
    """names whose value must be captured: the statement that computed it, or None if defined nowhere"""
    needed_by: dict[str, Statement] = field(default_factory=dict)
    """for each live name, the first statement that needed it (for error messages)"""

    @property
    def cell_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for statement in sorted(self.definitions + self.load + self.example, key=lambda s: s.position):
            seen.setdefault(statement.cell.id, None)
        return list(seen)


def parse_cell(cell: Cell, required: bool = False) -> list[Statement]:
    """The cell's top-level statements; a syntax error raises if ``required`` (an annotated cell)."""
    text = python_source(cell.source)
    if not text.strip():
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        if required:
            raise ClosureError(
                f"{cell.label} has a syntax error on line {error.lineno}: {error.msg}", cell=cell.id
            ) from None
        return []
    except (RecursionError, MemoryError):  # the parser gives up on deeply nested code
        if required:
            raise ClosureError(f"{cell.label} is nested too deeply for Python's parser", cell=cell.id) from None
        return []
    lines = text.splitlines()
    statements = []
    for number, node in enumerate(tree.body):
        statements.append(
            Statement(
                cell=cell,
                position=(cell.index, number),
                node=node,
                text=_statement_text(node, lines, text),
                defines=frozenset(bound_names(node)),
                kind=_kind(node),
            )
        )
    return statements


def _statement_text(node: ast.stmt, lines: list[str], text: str) -> str:
    first = min([node.lineno] + [decorator.lineno for decorator in getattr(node, "decorator_list", [])])
    last = node.end_lineno or node.lineno
    if first == last:
        return ast.get_source_segment(text, node) or lines[first - 1]
    return "\n".join(lines[first - 1 : last])


def bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] if alias.name != "*" else "*" for alias in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            names.add(child.id)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child is not node:
            names.add(child.name)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in child.names)
        elif isinstance(child, ast.Global):
            names.update(child.names)
    return names


def _kind(node: ast.stmt) -> str:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def"
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _is_constant(node.value):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if all(isinstance(target, (ast.Name, ast.Tuple)) for target in targets):
            return "constant"
    if isinstance(node, ast.Try) and all(_kind(child) != "other" for child in node.body):
        return "import"  # try: import fast_lib / except ImportError: ...
    return "other"


def _is_constant(expression: ast.expr) -> bool:
    return all(isinstance(child, _CONSTANT_NODES) for child in ast.walk(expression))


def free_names(text: str) -> frozenset[str]:
    """Module-level names a statement reads, including those read inside its functions and classes."""
    try:
        table = symtable.symtable(text, "<cell>", "exec")
    except SyntaxError:
        return frozenset()
    names: set[str] = set()
    for symbol in table.get_symbols():
        if symbol.is_referenced():
            names.add(symbol.get_name())
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        for symbol in child.get_symbols():
            if symbol.is_global() and not (symbol.is_declared_global() and symbol.is_assigned()):
                names.add(symbol.get_name())
        stack.extend(child.get_children())
    return frozenset(names - BUILTIN_NAMES)


class _Index:
    """Where each name is bound, in order, across the notebook's ordinary cells."""

    def __init__(self, statements: list[Statement]) -> None:
        self.statements = statements
        self.bindings: dict[str, list[Statement]] = {}
        self.star_imports: list[Statement] = []
        for statement in statements:
            for name in statement.defines:
                if name == "*":
                    self.star_imports.append(statement)
                else:
                    self.bindings.setdefault(name, []).append(statement)

    def latest(self, name: str, before: tuple[int, int] | None) -> Statement | None:
        candidates = [
            statement for statement in self.bindings.get(name, []) if before is None or statement.position < before
        ]
        return candidates[-1] if candidates else None


def build_closure(
    source: NotebookSource,
    deployment: Deployment,
    history: bool = False,
    live: bool = False,
    extra: Iterable[str] = (),
) -> Closure:
    """Statements the predictor needs, and the live names it must capture.

    ``history``: cells are a kernel's execution history, so the latest binding anywhere wins.
    ``live``: a kernel namespace is there to capture from, so the example cell is not copied (its value
    is captured instead).
    ``extra``: names the generated code needs besides the cells' own (a class a captured object is
    rebuilt from), resolved to their latest binding in the notebook.
    """
    annotated = {cell.cell_id: cell for cell in deployment.cells}
    all_statements: list[Statement] = []
    by_role: dict[str, list[Statement]] = {}
    for cell in source.cells:
        role = annotated[cell.id].role if cell.id in annotated else None
        statements = parse_cell(cell, required=role is not None)
        if role is None:
            # an annotated cell of another deployment is still an ordinary source of definitions
            all_statements.extend(statements)
            continue
        if role in ("predict", "preprocess", "postprocess"):
            statements = [statement for statement in statements if statement.is_definition]
        by_role.setdefault(role, []).extend(statements)
        all_statements.extend(statements)
    _check_role_defines(deployment, by_role)

    index = _Index(all_statements)
    closure = Closure()
    chosen: dict[int, Statement] = {}
    roots = [
        statement for role in ("load", "preprocess", "predict", "postprocess") for statement in by_role.get(role, [])
    ]
    if not live:
        roots += by_role.get("example", [])
    for statement in roots:
        chosen[id(statement)] = statement

    queue: list[tuple[str, Statement | None]] = [
        (name, statement) for statement in roots for name in sorted(statement.uses)
    ]
    queue += [(name, None) for name in sorted(extra)]
    while queue:
        name, user = queue.pop()
        binding = index.latest(name, None if history or user is None else user.position)
        if binding is None:
            star = next(
                (s for s in reversed(index.star_imports) if history or user is None or s.position < user.position),
                None,
            )
            if star is None:
                closure.live.setdefault(name, None)
                if user is not None:
                    closure.needed_by.setdefault(name, user)
                continue
            binding = star
        if id(binding) in chosen:
            continue
        mutated = _mutated_later(name, binding, index, None if history or user is None else user.position)
        if mutated is not None and _role_of(binding, annotated) != "load":
            closure.live.setdefault(name, mutated)
            if user is not None:
                closure.needed_by.setdefault(name, user)
            continue
        if _is_static(binding, index, history, {}) or _role_of(binding, annotated) == "load":
            chosen[id(binding)] = binding
            queue.extend((used, binding) for used in sorted(binding.uses))
        else:
            closure.live.setdefault(name, binding)
            if user is not None:
                closure.needed_by.setdefault(name, user)

    roles = {id(s): _role_of(s, annotated) for s in chosen.values()}
    for statement in sorted(chosen.values(), key=lambda s: s.position):
        statement_role = roles[id(statement)]
        if statement_role == "load":
            closure.load.append(statement)
        elif statement_role == "example" and statement.kind != "import":
            closure.example.append(statement)
        else:
            closure.definitions.append(statement)
    return closure


_MUTABLE_LITERALS = (ast.List, ast.Dict, ast.Set)


def _mutated_later(name: str, binding: Statement, index: _Index, before: tuple[int, int] | None) -> Statement | None:
    """The first statement after ``word_to_ix = {}`` that fills it in (``word_to_ix[w] = ...`` in a loop).

    A list, dict or set literal is only where the value starts: copying the literal would lose what later
    cells put in it, so such a name is captured from the kernel instead.
    """
    value = getattr(binding.node, "value", None)
    if binding.kind != "constant" or not isinstance(value, _MUTABLE_LITERALS):
        return None
    for statement in index.statements:
        if statement.position <= binding.position or (before is not None and statement.position >= before):
            continue
        if statement.kind == "other" and name in statement.uses and _mutates(statement.node, name):
            return statement
    return None


_MUTATING_METHODS = frozenset(
    {"append", "extend", "insert", "update", "add", "setdefault", "pop", "popitem", "remove", "discard", "clear"}
    | {"sort", "reverse", "__setitem__"}
)


def _mutates(node: ast.AST, name: str) -> bool:
    """``name[k] = v``, ``del name[k]``, ``name[k] += v`` or ``name.append(...)`` anywhere in ``node``."""
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Subscript)
            and isinstance(child.ctx, (ast.Store, ast.Del))
            and isinstance(child.value, ast.Name)
            and child.value.id == name
        ):
            return True
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
            target = child.func.value
            if isinstance(target, ast.Name) and target.id == name and child.func.attr in _MUTATING_METHODS:
                return True
    return False


def _is_static(statement: Statement, index: _Index, history: bool, memo: dict[int, bool]) -> bool:
    """A definition whose value does not depend on computed data: safe to copy into the predictor.

    Imports, functions and classes are; a constant is when every name it reads is (``OFFSET = SCALE * 3``
    is, ``scaled = features * 2`` is not).
    """
    if statement.kind != "constant":
        return statement.is_definition
    key = id(statement)
    if key not in memo:
        memo[key] = False  # a cycle is not static
        memo[key] = all(
            (binding := index.latest(name, None if history else statement.position)) is not None
            and _is_static(binding, index, history, memo)
            for name in statement.uses
        )
    return memo[key]


def _role_of(statement: Statement, annotated: dict) -> str | None:
    annotation = annotated.get(statement.cell.id)
    return annotation.role if annotation else None


def _check_role_defines(deployment: Deployment, by_role: dict[str, list[Statement]]) -> None:
    for role, name in ROLE_VARIABLES.items():
        cells = deployment.role(role)
        if not cells:
            continue
        defined = set().union(*(statement.defines for statement in by_role.get(role, [])))
        if name not in defined:
            what = f"def {name}(...)" if role not in ("example", "reference") else f"{name} = ..."
            raise ClosureError(
                f"the {role} cell of {deployment.name!r} ({cells[0].cell_id}) must define {name}: write {what} in it",
                name=name,
                cell=cells[0].cell_id,
            )
