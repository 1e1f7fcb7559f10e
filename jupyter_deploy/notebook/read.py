"""Reading notebooks: a saved ``.ipynb`` or a live kernel's history, as a list of ``Cell``.

Both sources give the same shape, so annotation parsing and the closure never care where cells came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import NotebookError


@dataclass(frozen=True)
class Cell:
    """A code cell: its id (notebook cell id, or ``In[n]`` in a kernel), position, source and tags."""

    id: str
    index: int
    source: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        """How errors refer to the cell: its position and id."""
        if self.id.startswith("In["):
            return self.id
        return f"cell {self.index + 1} (id {self.id})"


@dataclass
class NotebookSource:
    """The code cells of one notebook (or kernel history) and where they came from."""

    cells: list[Cell]
    path: str | None = None


def read_notebook(path: str | Path) -> NotebookSource:
    """Read a saved notebook; upgrade old nbformat versions; refuse non-Python or malformed files."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError("no such notebook", str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"cannot read the file ({error})", str(path)) from None
    return parse_notebook(text, str(path))


def parse_notebook(text: str, path: str | None = None) -> NotebookSource:
    """Parse notebook JSON text into a ``NotebookSource``."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"not a notebook: invalid JSON at line {error.lineno}, column {error.colno} ({error.msg})", path
        ) from None
    except RecursionError:
        raise NotebookError("not a notebook: the JSON is nested too deeply", path) from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise NotebookError("not a notebook: the JSON has no 'cells'", path)
    if raw.get("nbformat") == 4 and isinstance(raw.get("cells"), list):
        node = raw  # already current: skip nbformat's second parse and full schema validation
    else:
        import nbformat  # only to upgrade: importing it costs ~1.5 s (jsonschema's format grammars)

        try:
            node = nbformat.reads(text, as_version=4)  # upgrades nbformat 3 and older
        except Exception as error:  # nbformat raises several unrelated types for bad files
            raise NotebookError(f"not a valid notebook ({error})", path) from None
    metadata = node.get("metadata")
    _check_python(metadata if isinstance(metadata, dict) else {}, path)
    cells = []
    for index, cell in enumerate(node["cells"]):
        if not isinstance(cell, dict):
            raise NotebookError(f"not a valid notebook: cell {index + 1} is not an object", path)
        if cell.get("cell_type") != "code":
            continue
        cell_id = str(cell.get("id") or f"cell-{index + 1}")
        tags = _tags(cell, index, path)
        cells.append(Cell(id=cell_id, index=index, source=_source_text(cell.get("source", "")), tags=tags))
    return NotebookSource(cells=cells, path=path)


def _tags(cell: dict[str, Any], index: int, path: str | None) -> tuple[str, ...]:
    metadata = cell.get("metadata") or {}
    tags = metadata.get("tags") or [] if isinstance(metadata, dict) else None
    if not isinstance(tags, list):
        what = "metadata" if not isinstance(metadata, dict) else "metadata.tags"
        raise NotebookError(f"not a valid notebook: cell {index + 1}'s {what} is not a JSON object/list", path)
    return tuple(str(tag) for tag in tags)


def _source_text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _check_python(metadata: dict[str, Any], path: str | None) -> None:
    kernelspec, language_info = metadata.get("kernelspec") or {}, metadata.get("language_info") or {}
    for key, value in (("kernelspec", kernelspec), ("language_info", language_info)):
        if not isinstance(value, dict):
            raise NotebookError(f"not a valid notebook: metadata.{key} is {str(value)[:40]!r}, not a JSON object", path)
    language = kernelspec.get("language") or language_info.get("name")
    if language and str(language).lower() != "python":
        raise NotebookError(
            f"the notebook's kernel language is {language!r}; jupyter-deploy exports Python notebooks only",
            path,
        )


def history_source(raw_inputs: list[str]) -> NotebookSource:
    """Cells from a kernel's raw input history (``In[1:]``), in execution order."""
    cells = [
        Cell(id=f"In[{number}]", index=number - 1, source=text)
        for number, text in enumerate(raw_inputs, start=1)
        if text.strip()
    ]
    return NotebookSource(cells=cells, path=None)
