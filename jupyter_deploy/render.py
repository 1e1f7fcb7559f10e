"""The Jinja environment over ``templates/``: predictor modules and manifests are rendered through it.

One environment for every template, with two filters: ``pyliteral`` (Python source) and ``yq`` (a YAML scalar).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+=-]*$")


def template_dir() -> Path:
    """``templates/`` inside the installed package (wheel), or at the repository root (editable install)."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pyliteral"] = pyliteral
    env.filters["yq"] = yaml_scalar
    return env


def render(template: str, **context: Any) -> str:
    return str(environment().get_template(template).render(**context))


def pyliteral(value: Any) -> str:
    """A Python literal with double-quoted strings (what formatters and linters expect)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(pyliteral(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{pyliteral(k)}: {pyliteral(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as a literal")


def yaml_scalar(value: Any) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back as the same string, else double-quoted."""
    import yaml

    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if PLAIN_SCALAR.match(text) and not text.endswith(":") and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)
