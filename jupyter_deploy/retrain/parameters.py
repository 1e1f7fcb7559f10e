"""Retraining parameters (``-p KEY VALUE``, ``-f params.yaml``) checked against the ``parameters`` cell.

Papermill's own inspection (``papermill.inspect_notebook``) lists what the notebook declares. A name it
does not declare is refused, and so is a value of the wrong type, before any kernel starts. The type of a
parameter is its annotation (``epochs: int = 60``) when there is one, else the type of its default
literal; a parameter whose default is not a literal (``data = load()``) accepts any value.

``-p`` values are text from a shell: they are read as the declared type (``-p epochs 50`` is the int 50,
``-p run_name 50`` the string '50'). Values from a ``-f`` YAML file keep their YAML type.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ParameterError

# papermill's inferred_type_name (the annotation's text) -> the Python types a value may have
TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "List": (list,),
    "dict": (dict,),
    "Dict": (dict,),
    "tuple": (list, tuple),
}


@dataclass(frozen=True)
class Declared:
    """One name in the ``parameters`` cell: its type (None: any) and its default as written."""

    name: str
    type_name: str | None
    default: str

    def accepts(self, value: Any) -> bool:
        if self.type_name is None:
            return True
        allowed = TYPES[self.type_name]
        if isinstance(value, bool) and bool not in allowed:
            return False
        return isinstance(value, allowed)


def declared_parameters(notebook: str | Path) -> dict[str, Declared]:
    """The notebook's parameters as papermill sees them (empty when no cell is tagged ``parameters``)."""
    import papermill

    inspected = papermill.inspect_notebook(str(notebook))
    return {name: _declared(name, item) for name, item in inspected.items()}


def _declared(name: str, item: dict[str, Any]) -> Declared:
    annotation = item.get("inferred_type_name") or "None"
    default = str(item.get("default") or "")
    annotation = annotation.split("[", 1)[0].replace("typing.", "")
    if annotation in TYPES:
        return Declared(name, annotation, default)
    if annotation in ("Optional", "Any", "Union") or annotation != "None":
        return Declared(name, None, default)
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return Declared(name, None, default)
    for type_name in ("bool", "int", "float", "str", "list", "dict", "tuple"):
        if type(value) is TYPES[type_name][0]:
            return Declared(name, type_name, default)
    return Declared(name, None, default)


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) mapping of parameter names to values."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ParameterError(f"-f {path}: cannot read it: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ParameterError(f"-f {path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise ParameterError(f"-f {path}: expected a mapping of parameter names to values, e.g. 'epochs: 50'")
    return data


def convert_text(declared: Declared | None, text: str) -> Any:
    """A ``-p`` value from the shell, read as the declared type (papermill's own rules when untyped)."""
    type_name = declared.type_name if declared else None
    if type_name == "str":
        return text
    if type_name == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        return text  # rejected by validate() with the expected type named
    if type_name in ("int", "float"):
        return _number(text)
    if type_name in ("list", "List", "dict", "Dict", "tuple"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return _papermill_value(text)


def _papermill_value(text: str) -> Any:
    """What ``papermill -p`` does with an untyped value: True/False/None, int, float, else the text."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    return _number(text)


def _number(text: str) -> Any:
    """``text`` as an int, else a float, else unchanged."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def resolve_parameters(
    notebook: str | Path,
    pairs: list[tuple[str, str]] | None = None,
    parameter_file: str | Path | None = None,
    declared: dict[str, Declared] | None = None,
) -> dict[str, Any]:
    """``-f`` values, then ``-p`` values over them, checked against the notebook: name -> typed value."""
    declared = declared_parameters(notebook) if declared is None else declared
    given: dict[str, Any] = dict(read_parameter_file(parameter_file)) if parameter_file else {}
    for name, text in pairs or []:
        given[name] = convert_text(declared.get(name), text)
    return validate(declared, given, str(notebook))


def validate(declared: dict[str, Declared], given: dict[str, Any], notebook: str = "the notebook") -> dict[str, Any]:
    if given and not declared:
        raise ParameterError(
            f"{notebook} has no cell tagged 'parameters', so it takes no parameters "
            f"(got {', '.join(sorted(given))}): tag the cell that sets them 'parameters'"
        )
    for name, value in given.items():
        if name not in declared:
            known = ", ".join(declared)
            raise ParameterError(f"unknown parameter {name!r}: {notebook} declares {known}")
        item = declared[name]
        if not item.accepts(value):
            raise ParameterError(
                f"parameter {name!r} must be {_article(item.type_name)} (default {item.default}), "
                f"got {type(value).__name__} {value!r}"
            )
        if item.type_name == "float" and isinstance(value, int):
            given[name] = float(value)
    return given


def _article(type_name: str | None) -> str:
    words = {"int": "an int", "float": "a number", "str": "a string", "bool": "a bool (True or False)"}
    return words.get(type_name or "", f"a {type_name}")
