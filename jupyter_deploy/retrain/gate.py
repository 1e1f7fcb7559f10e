"""The promotion gate: ``--promote-if "val_accuracy >= 0.9"``, parsed without ``eval``.

An expression is one or more comparisons joined by ``and``. Each compares a metric the run logged with a
number or with ``current``, the same metric of the version that is current now::

    val_accuracy >= 0.9
    val_loss < current
    val_accuracy > current and val_accuracy >= 0.8

``current`` passes when there is no current version yet (nothing to beat) and fails, with the reason,
when the current version has no value for the metric (it was exported by hand, outside a run).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..exceptions import ParameterError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
CURRENT = "current"
EXAMPLES = "e.g. 'val_accuracy >= 0.9' or 'val_loss < current'"
_CLAUSE = re.compile(
    r"""^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_./-]*)\s*
        (?P<op>>=|<=|==|!=|>|<)\s*
        (?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|current)\s*$""",
    re.VERBOSE,
)
_AND = re.compile(r"\s+and\s+")


@dataclass(frozen=True)
class Comparison:
    metric: str
    op: str
    value: float | None  # None: compare with the current version's value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {CURRENT if self.value is None else _number(self.value)}"


@dataclass(frozen=True)
class Decision:
    passed: bool
    reason: str


@dataclass(frozen=True)
class Gate:
    """A parsed ``--promote-if`` expression; an empty gate always promotes."""

    comparisons: tuple[Comparison, ...] = ()
    text: str = ""

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(comparison.metric for comparison in self.comparisons))

    @property
    def needs_current(self) -> bool:
        return any(comparison.value is None for comparison in self.comparisons)

    def evaluate(
        self,
        metrics: Mapping[str, float],
        current: Mapping[str, float] | None,
        current_version: str | None = None,
    ) -> Decision:
        """Decide on the run's ``metrics``; ``current`` holds the current version's (None: no version)."""
        if not self.comparisons:
            return Decision(True, "no --promote-if gate")
        reasons = []
        for comparison in self.comparisons:
            if comparison.metric not in metrics:
                logged = ", ".join(sorted(metrics)) or "none"
                return Decision(
                    False,
                    f"the run has no metric {comparison.metric!r} (logged: {logged}); log it with "
                    f"mlflow.log_metric({comparison.metric!r}, ...) or bind a variable of that name",
                )
            value = float(metrics[comparison.metric])
            if comparison.value is None:
                if current is None:
                    reasons.append(f"{comparison.metric} = {_number(value)} (no current version to beat)")
                    continue
                if comparison.metric not in current:
                    which = f"the current version {current_version}" if current_version else "the current version"
                    return Decision(
                        False,
                        f"{which} has no recorded {comparison.metric!r} to compare with (it was not built by "
                        "a retraining run): use a threshold instead, e.g. "
                        f"--promote-if '{comparison.metric} {comparison.op} 0.9'",
                    )
                target = float(current[comparison.metric])
                shown = f"current {_number(target)}"
            else:
                target, shown = comparison.value, _number(comparison.value)
            if math.isnan(value) or not OPERATORS[comparison.op](value, target):
                return Decision(False, f"{comparison.metric} = {_number(value)} fails {comparison.op} {shown}")
            reasons.append(f"{comparison.metric} = {_number(value)} {comparison.op} {shown}")
        return Decision(True, "; ".join(reasons))


def parse_gate(text: str | None) -> Gate:
    """Parse ``--promote-if``; a ParameterError names the clause that is not understood."""
    if text is None or not text.strip():
        return Gate()
    comparisons = []
    for clause in _AND.split(text.strip()):
        match = _CLAUSE.match(clause)
        if not match:
            raise ParameterError(
                f"--promote-if: cannot read {clause.strip()!r}: write METRIC OP NUMBER or METRIC OP current "
                f"(OP one of >= > <= < == !=, clauses joined by 'and'), {EXAMPLES}"
            )
        raw = match.group("value")
        comparisons.append(Comparison(match.group("metric"), match.group("op"), None if raw == CURRENT else float(raw)))
    return Gate(tuple(comparisons), text.strip())


def _number(value: float) -> str:
    return f"{value:.6g}"
