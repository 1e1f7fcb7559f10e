"""Real notebooks written by others: exported with ``--execute`` (no pickle), served over loopback, and answering
what the notebook itself computed on its example and on other rows (see corpus_harness.py and corpus.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from corpus_harness import NOTEBOOKS, CorpusFailure, annotation_forms, cell_roles, load_entries, read_cells, run_entry

pytestmark = pytest.mark.corpus
ENTRIES = load_entries()
LICENCES = {"BSD-3-Clause", "Apache-2.0", "MIT"}


def _param(entry: dict[str, Any]) -> Any:
    marks = [pytest.mark.kernel, pytest.mark.server, pytest.mark.slow]
    if entry.get("expected_failure"):
        marks.append(pytest.mark.xfail(strict=True, reason=entry["expected_failure"], raises=CorpusFailure))
    return pytest.param(entry, id=entry["name"], marks=marks)


@pytest.mark.parametrize("entry", [_param(entry) for entry in ENTRIES])
def test_served_version_answers_what_the_notebook_computed(entry: dict[str, Any], tmp_path: Path) -> None:
    expected = entry.get("expected_failure")
    try:
        run_entry(entry, tmp_path / "project")
    except CorpusFailure as failure:
        if expected and failure.line != expected:
            pytest.fail(
                f"{entry['name']} fails differently than corpus.yaml records:\n  now:      {failure.line}\n"
                f"  recorded: {expected}\n{failure}"
            )
        raise


def test_corpus_is_described_completely() -> None:
    assert len(ENTRIES) >= 12
    assert len({entry["name"] for entry in ENTRIES}) == len(ENTRIES)
    forms: set[str] = set()
    for entry in ENTRIES:
        notebook = NOTEBOOKS / entry["notebook"]
        assert notebook.is_file(), notebook
        assert entry["licence"] in LICENCES, entry["name"]
        assert {"repository", "path", "commit", "read"} <= set(entry["source"]), entry["name"]
        assert entry["changes"], entry["name"]
        cells = read_cells(notebook)
        roles = set().union(*(cell_roles(cell) for cell in cells))
        assert {"predict", "example"} <= roles, entry["name"]
        assert any("corpus-check" in cell.get("metadata", {}).get("tags", []) for cell in cells), entry["name"]
        assert annotation_forms(notebook) == {entry["annotation"]}, entry["name"]
        forms |= annotation_forms(notebook)
        if entry.get("v2") is False:
            assert entry.get("v2_reason"), entry["name"]
    assert forms == {"magic", "tag"}
    listed = {entry["notebook"] for entry in ENTRIES}
    assert listed == {path.name for path in NOTEBOOKS.glob("*.ipynb")}
