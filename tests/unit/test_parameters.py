"""Retraining parameters checked against the notebook's ``parameters`` cell, before any kernel starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebooks import make_notebook

from jupyter_deploy.exceptions import ParameterError
from jupyter_deploy.retrain.parameters import declared_parameters, resolve_parameters


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "train.ipynb",
        (
            'epochs = 60\nlearning_rate = 0.05\nname = "run"\nnormalize = True\nlayers = [32, 16]\n'
            "batch: int = 8\ndata = load_data()",
            ["parameters"],
        ),
        "print(epochs)",
    )


def test_types_come_from_annotations_else_default_literals(notebook: Path) -> None:
    declared = declared_parameters(notebook)
    types = {name: item.type_name for name, item in declared.items()}
    assert types == {
        "epochs": "int",
        "learning_rate": "float",
        "name": "str",
        "normalize": "bool",
        "layers": "list",
        "batch": "int",
        "data": None,
    }


def test_cli_text_is_read_as_the_declared_type(notebook: Path) -> None:
    values = resolve_parameters(
        notebook,
        [("epochs", "5"), ("learning_rate", "1"), ("name", "42"), ("normalize", "false"), ("layers", "[8, 4]")],
    )
    assert values == {"epochs": 5, "learning_rate": 1.0, "name": "42", "normalize": False, "layers": [8, 4]}
    assert isinstance(values["learning_rate"], float)


def test_untyped_parameter_takes_papermill_rules(notebook: Path) -> None:
    assert resolve_parameters(notebook, [("data", "7")]) == {"data": 7}
    assert resolve_parameters(notebook, [("data", "s3://bucket/x")]) == {"data": "s3://bucket/x"}


def test_unknown_name_is_refused_listing_the_known_ones(notebook: Path) -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter 'epoch': .*declares epochs, learning_rate"):
        resolve_parameters(notebook, [("epoch", "5")])


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        (("epochs", "0.5"), r"parameter 'epochs' must be an int \(default 60\), got float 0.5"),
        (("epochs", "many"), r"parameter 'epochs' must be an int .*got str 'many'"),
        (("learning_rate", "fast"), r"'learning_rate' must be a number"),
        (("normalize", "maybe"), r"'normalize' must be a bool"),
        (("layers", "7"), r"'layers' must be a list"),
    ],
)
def test_ill_typed_values_are_refused(notebook: Path, pair: tuple[str, str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        resolve_parameters(notebook, [pair])


def test_file_values_keep_their_yaml_type_and_cli_wins(notebook: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("epochs: 10\nlearning_rate: 0.1\nname: nightly\n")
    assert resolve_parameters(notebook, [("epochs", "20")], params) == {
        "epochs": 20,
        "learning_rate": 0.1,
        "name": "nightly",
    }
    params.write_text("epochs: true\n")
    with pytest.raises(ParameterError, match="'epochs' must be an int .*got bool True"):
        resolve_parameters(notebook, [], params)


def test_bad_file_is_named(notebook: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("- 1\n- 2\n")
    with pytest.raises(ParameterError, match="expected a mapping of parameter names"):
        resolve_parameters(notebook, [], params)
    with pytest.raises(ParameterError, match="cannot read it"):
        resolve_parameters(notebook, [], tmp_path / "missing.yaml")


def test_notebook_without_parameters_cell_takes_none(tmp_path: Path) -> None:
    plain = make_notebook(tmp_path / "plain.ipynb", "x = 1")
    assert resolve_parameters(plain) == {}
    with pytest.raises(ParameterError, match="has no cell tagged 'parameters'"):
        resolve_parameters(plain, [("x", "2")])
