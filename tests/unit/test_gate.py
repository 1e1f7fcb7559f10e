"""The promotion gate: parsed without eval, decided on the run's metrics and the current version's."""

from __future__ import annotations

import pytest

from jupyter_deploy.exceptions import ParameterError
from jupyter_deploy.retrain.gate import parse_gate


def test_threshold_passes_and_fails_with_the_reason() -> None:
    gate = parse_gate("val_accuracy >= 0.9")
    assert gate.evaluate({"val_accuracy": 0.93}, None).passed
    decision = gate.evaluate({"val_accuracy": 0.85}, None)
    assert not decision.passed
    assert decision.reason == "val_accuracy = 0.85 fails >= 0.9"


def test_better_than_current() -> None:
    gate = parse_gate("val_loss < current")
    assert gate.needs_current and gate.metrics == ["val_loss"]
    assert gate.evaluate({"val_loss": 0.2}, {"val_loss": 0.3}, "v2").passed
    rejected = gate.evaluate({"val_loss": 0.4}, {"val_loss": 0.3}, "v2")
    assert not rejected.passed and "current 0.3" in rejected.reason


def test_current_without_a_version_passes_and_without_the_metric_fails() -> None:
    gate = parse_gate("val_accuracy > current")
    assert gate.evaluate({"val_accuracy": 0.5}, None).passed
    decision = gate.evaluate({"val_accuracy": 0.5}, {}, "v1")
    assert not decision.passed
    assert "v1 has no recorded 'val_accuracy'" in decision.reason


def test_clauses_joined_by_and_all_must_hold() -> None:
    gate = parse_gate("val_accuracy > current and val_accuracy >= 0.8")
    assert gate.evaluate({"val_accuracy": 0.9}, {"val_accuracy": 0.85}).passed
    assert not gate.evaluate({"val_accuracy": 0.79}, {"val_accuracy": 0.5}).passed


def test_missing_metric_names_it_and_how_to_log_it() -> None:
    decision = parse_gate("f1 >= 0.5").evaluate({"val_accuracy": 0.9}, None)
    assert not decision.passed
    assert "no metric 'f1' (logged: val_accuracy)" in decision.reason
    assert "mlflow.log_metric('f1'" in decision.reason


def test_nan_never_passes() -> None:
    assert not parse_gate("loss <= 1").evaluate({"loss": float("nan")}, None).passed


def test_no_gate_always_promotes() -> None:
    assert parse_gate(None).evaluate({}, {"x": 1.0}).passed
    assert parse_gate("  ").comparisons == ()


@pytest.mark.parametrize(
    "text",
    [
        "val_accuracy >= 0.9 or 1",
        "__import__('os').system('true')",
        "val_accuracy >= best",
        "val_accuracy => 0.9",
        ">= 0.9",
    ],
)
def test_anything_else_is_refused_naming_the_clause(text: str) -> None:
    with pytest.raises(ParameterError, match="--promote-if: cannot read"):
        parse_gate(text)


def test_numbers_in_any_float_syntax() -> None:
    gate = parse_gate("loss<1e-3 and acc >= .5")
    assert [str(c) for c in gate.comparisons] == ["loss < 0.001", "acc >= 0.5"]
