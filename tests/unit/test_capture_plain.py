"""Plain values round-trip through JSON with their Python types (what the predictor gets back is equal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_deploy.capture import CaptureContext, capture
from jupyter_deploy.exceptions import CaptureError
from jupyter_deploy.runtime.artifacts import load_artifact


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1.5, None, True]},
        {0: "the", 1: "cat", 2: "sat"},  # pytorch/tutorials word embeddings: ix_to_word
        {("me", "gusta"): 3, "x": (1, 2)},
        [{1, 2, 3}, frozenset({"a"}), ()],
        {"__tuple__": "a user's own key"},
    ],
)
def test_round_trip(tmp_path: Path, value: object) -> None:
    saved = capture("value", value, CaptureContext(directory=tmp_path))
    assert saved.filename == "value.json"
    assert load_artifact(tmp_path / saved.filename) == value


def test_a_nan_is_not_plain_and_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="'load' cell"):
        capture("value", {"x": float("nan")}, CaptureContext(directory=tmp_path))
