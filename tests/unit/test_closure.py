"""The closure: what a predictor needs from the notebook, found statically, in notebook order."""

from __future__ import annotations

import pytest

from jupyter_deploy.exceptions import ClosureError
from jupyter_deploy.notebook.annotations import find_deployments
from jupyter_deploy.notebook.closure import build_closure, free_names
from jupyter_deploy.notebook.read import Cell, NotebookSource


def closure_of(*cells: str, history: bool = False, live: bool = False):
    source = NotebookSource(cells=[Cell(id=f"c{i}", index=i, source=text) for i, text in enumerate(cells)])
    deployment = next(iter(find_deployments(source, "model", latest_wins=history).values()))
    return build_closure(source, deployment, history=history, live=live)


def texts(statements) -> list[str]:
    return [statement.text for statement in statements]


def test_pulls_imports_functions_classes_and_constants_in_notebook_order() -> None:
    closure = closure_of(
        "import math\nimport os",
        "RATE = 0.5\nDOUBLE = RATE * 2\nunused = 3",
        "class Scaler:\n    def __call__(self, x):\n        return x * DOUBLE",
        "def helper(x):\n    return math.sqrt(Scaler()(x))",
        "%%deploy predict\ndef predict(x):\n    return helper(x)",
    )
    assert texts(closure.definitions) == [
        "import math",
        "RATE = 0.5",
        "DOUBLE = RATE * 2",
        "class Scaler:\n    def __call__(self, x):\n        return x * DOUBLE",
        "def helper(x):\n    return math.sqrt(Scaler()(x))",
        "def predict(x):\n    return helper(x)",
    ]
    assert closure.live == {}
    assert closure.cell_ids == ["c0", "c1", "c2", "c3", "c4"]


def test_computed_values_are_live_not_copied() -> None:
    closure = closure_of(
        "import numpy as np",
        "data = np.ones(3)\nweights = data * 2",
        "%%deploy predict\ndef predict(x):\n    return x @ weights",
    )
    assert list(closure.live) == ["weights"]
    assert closure.live["weights"].cell.id == "c1"
    assert "data" not in texts(closure.definitions)


def test_a_constant_computed_from_data_is_live_too() -> None:
    closure = closure_of(
        "import numpy as np\nX = np.ones((4, 2))",
        "MEAN = X.mean()",
        "SCALE = 2",
        "%%deploy predict\ndef predict(x):\n    return (x - MEAN) * SCALE",
    )
    assert "MEAN" in closure.live
    assert "SCALE = 2" in texts(closure.definitions)


def test_predict_cell_keeps_definitions_only() -> None:
    closure = closure_of(
        "%%deploy example\nexample_input = [1, 2]",
        "%%deploy predict\nimport json\n\ndef predict(x):\n    return json.dumps(x)\n\nprint(predict(example_input))",
    )
    assert "print(predict(example_input))" not in texts(closure.definitions)
    assert "import json" in texts(closure.definitions)


def test_load_cell_runs_whole_and_its_names_satisfy_predict() -> None:
    closure = closure_of(
        "import numpy as np",
        "%%deploy load\nweights = np.ones(3)\nfor w in weights:\n    pass",
        "%%deploy predict\ndef predict(x):\n    return x @ weights",
    )
    assert closure.live == {}
    assert texts(closure.load) == ["weights = np.ones(3)", "for w in weights:\n    pass"]


def test_definitions_after_the_using_cell_do_not_count_in_a_notebook() -> None:
    cells = ("%%deploy predict\ndef predict(x):\n    return late(x)", "def late(x):\n    return x")
    assert "late" in closure_of(*cells).live
    assert closure_of(*cells, history=True).live == {}


def test_the_latest_binding_before_the_cell_wins() -> None:
    closure = closure_of(
        "LIMIT = 1",
        "LIMIT = 2",
        "%%deploy predict\ndef predict(x):\n    return min(x, LIMIT)",
        "LIMIT = 3",
    )
    assert "LIMIT = 2" in texts(closure.definitions)
    assert "LIMIT = 1" not in texts(closure.definitions)


def test_example_cell_is_copied_only_without_a_kernel() -> None:
    cells = (
        "import numpy as np",
        "%%deploy example\nexample_input = np.zeros(2)",
        "%%deploy predict\ndef predict(x):\n    return x",
    )
    assert texts(closure_of(*cells).example) == ["example_input = np.zeros(2)"]
    assert closure_of(*cells, live=True).example == []


def test_syntax_error_in_an_annotated_cell_names_the_cell_and_line() -> None:
    with pytest.raises(ClosureError, match=r"cell 1 \(id c0\) has a syntax error on line 3"):
        closure_of("%%deploy predict\ndef predict(x):\n    return (x")


def test_syntax_error_elsewhere_does_not_block_export() -> None:
    closure = closure_of("this is not python", "%%deploy predict\ndef predict(x):\n    return x")
    assert texts(closure.definitions) == ["def predict(x):\n    return x"]


def test_predict_cell_must_define_predict() -> None:
    with pytest.raises(ClosureError, match="must define predict: write def predict"):
        closure_of("%%deploy predict\ndef predicts(x):\n    return x")


def test_free_names_sees_inside_functions_classes_and_comprehensions() -> None:
    names = free_names(
        "@decorate\ndef f(a: Tensor = DEFAULT):\n    b = [helper(i) for i in a]\n    return b + GLOBAL\n"
    )
    assert names == {"decorate", "Tensor", "DEFAULT", "helper", "GLOBAL"}


def test_a_literal_filled_in_by_later_cells_is_captured_not_copied() -> None:
    """pytorch/tutorials' bag-of-words classifier: ``word_to_ix = {}``, then a loop fills it in."""
    closure = closure_of(
        "data = [('me gusta comer'.split(), 'SPANISH')]",
        "word_to_ix = {}\nLABELS = ['SPANISH', 'ENGLISH']",
        "for sent, _ in data:\n    for word in sent:\n        if word not in word_to_ix:\n"
        "            word_to_ix[word] = len(word_to_ix)",
        "print(LABELS)",
        "%%deploy predict\ndef predict(words):\n    return [word_to_ix[w] for w in words], LABELS",
        live=True,
    )
    assert "word_to_ix" in closure.live and closure.live["word_to_ix"].cell.id == "c2"
    # a literal nothing changes afterwards (printing it does not) is still copied
    assert "LABELS = ['SPANISH', 'ENGLISH']" in texts(closure.definitions) and "LABELS" not in closure.live
    assert "word_to_ix = {}" not in texts(closure.definitions)


def test_a_literal_left_alone_is_copied() -> None:
    closure = closure_of(
        "CLASSES = ['cat', 'dog']",
        "print(len(CLASSES))",
        "%%deploy predict\ndef predict(i):\n    return CLASSES[i]",
    )
    assert "CLASSES = ['cat', 'dog']" in texts(closure.definitions) and closure.live == {}


def test_an_import_in_the_example_cell_serves_predict_too() -> None:
    closure = closure_of(
        "%%deploy example\nimport numpy as np\nexample_input = np.ones((2, 3))",
        "%%deploy predict\ndef predict(x):\n    return np.asarray(x) * 2",
        live=True,
    )
    assert "import numpy as np" in texts(closure.definitions) and closure.live == {}
