"""Annotations: the %%deploy first line and deploy: tags mean the same; bad ones say what to fix."""

from __future__ import annotations

import pytest

from jupyter_deploy.exceptions import AnnotationError
from jupyter_deploy.notebook.annotations import (
    check_name,
    find_deployments,
    parse_magic_line,
    python_source,
    select_deployment,
    suggest_name,
)
from jupyter_deploy.notebook.read import Cell, NotebookSource


def source(*cells: str | tuple[str, tuple[str, ...]]) -> NotebookSource:
    built = []
    for index, cell in enumerate(cells):
        text, tags = cell if isinstance(cell, tuple) else (cell, ())
        built.append(Cell(id=f"c{index}", index=index, source=text, tags=tags))
    return NotebookSource(cells=built, path="nb.ipynb")


def test_magic_line_gives_role_name_and_typed_options() -> None:
    role, name, options = parse_magic_line("predict --name churn --gpu 1 --max-batch-size 16 --batcher")
    assert (role, name) == ("predict", "churn")
    assert options == {"gpu": 1, "max_batch_size": 16, "batcher": True}


def test_magic_and_tag_forms_give_the_same_deployment() -> None:
    by_magic = find_deployments(source("%%deploy predict --name churn\ndef predict(x):\n    return x"))
    by_tag = find_deployments(source(("def predict(x):\n    return x", ("deploy:predict:churn",))))
    assert [(c.role, c.name) for c in by_magic["churn"].cells] == [(c.role, c.name) for c in by_tag["churn"].cells]
    assert by_magic["churn"].cells[0].via == "magic" and by_tag["churn"].cells[0].via == "tag"


def test_unnamed_annotations_take_the_default_name() -> None:
    deployments = find_deployments(source(("def predict(x):\n    return x", ("deploy:predict",))), "quickstart")
    assert list(deployments) == ["quickstart"]


def test_several_deployments_in_one_notebook() -> None:
    deployments = find_deployments(
        source(
            "%%deploy predict --name a\ndef predict(x):\n    return x",
            "%%deploy predict --name b\ndef predict(x):\n    return -x",
        )
    )
    assert sorted(deployments) == ["a", "b"]
    with pytest.raises(AnnotationError, match="several deployments .*--name"):
        select_deployment(deployments, None, "nb.ipynb")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (("%%deploy serve\nx = 1",), "unknown role 'serve': use one of predict, load"),
        ((("x = 1", ("deploy:trian",)),), "unknown role 'trian'"),
        (
            ("%%deploy predict --name Churn_Model\ndef predict(x): ...",),
            "'Churn_Model' is not a valid deployment name",
        ),
        (("%%deploy predict --name a --gpus 2\ndef predict(x): ...",), "unknown option --gpus"),
        (("%%deploy predict --name a --gpu two\ndef predict(x): ...",), "--gpu takes an integer"),
        (("%%deploy\nx = 1",), "%%deploy needs a role"),
    ],
)
def test_bad_annotations_name_the_cell_and_the_fix(cells: tuple, message: str) -> None:
    with pytest.raises(AnnotationError, match=message) as info:
        find_deployments(source(*cells))
    assert "c0" in str(info.value)


def test_two_predict_cells_for_one_name_is_an_error_in_a_notebook_but_not_in_history() -> None:
    cells = (
        "%%deploy predict --name a\ndef predict(x): ...",
        "%%deploy predict --name a\ndef predict(x): ...",
    )
    with pytest.raises(AnnotationError, match="two 'predict' cells \\(c0 and c1\\)"):
        find_deployments(source(*cells))
    assert find_deployments(source(*cells), latest_wins=True)["a"].cells[0].cell_id == "c1"


def test_a_deployment_without_predict_cell_is_refused() -> None:
    deployments = find_deployments(source("%%deploy example --name a\nexample_input = [1]"))
    with pytest.raises(AnnotationError, match="has no predict cell.*%%deploy predict --name a"):
        select_deployment(deployments, "a", "nb.ipynb")


def test_no_annotations_at_all_explains_how_to_annotate() -> None:
    with pytest.raises(AnnotationError, match="no annotated cells.*%%deploy predict"):
        select_deployment({}, None, "nb.ipynb")


def test_names_are_kubernetes_names() -> None:
    assert check_name("churn-v2") == "churn-v2"
    for bad in ("2fast", "a" * 64, "under_score", "trailing-", ""):
        with pytest.raises(AnnotationError):
            check_name(bad)
    assert suggest_name("My Notebook (final).ipynb") == "my-notebook-final-ipynb"
    assert suggest_name("2024_model") == "model"


def test_python_source_drops_magics_and_shell_lines_but_keeps_line_numbers() -> None:
    text = "%matplotlib inline\nimport os\n!pip install x\nfiles = !ls\nfor f in []:\n    %time f\nos?"
    cleaned = python_source(text)
    assert cleaned.split("\n") == ["", "import os", "", "", "for f in []:", "    pass", ""]
    assert python_source("%%bash\necho hi") == ""
    assert python_source("%%time\nx = 1") == "\nx = 1"
