"""Drift of logged values against a reference profile, feature by feature.

Numeric features:
- PSI (population stability index) over the profile's histogram bins (vigintiles of the reference, or one
  bin per value for a feature with few distinct values, plus a bin below and one above the reference's
  range): ``sum((o - r) * ln(o / r))`` over the bins' shares, each count smoothed by 0.5 so that an empty bin
  is finite.
- Kolmogorov-Smirnov, two-sample, with the reference represented by its profile: its exact step CDF when the
  profile kept its distinct values, else its 101 percentiles with the CDF linear between them (so D is
  accurate to about one percentile). D is the largest gap between the two CDFs over the logged values and
  the reference's percentiles, taken from the logs' CDF sketch (``summary.CdfSketch``: exact where the
  reference CDF is flat, within 0.0006 between percentiles); the p-value is the asymptotic Kolmogorov
  distribution at ``D * sqrt(n * m / (n + m))`` (n logged rows, m reference rows).
Categorical features: PSI and Pearson's chi-square over the reference's most frequent values plus one bucket
for everything else (values the reference never had land there); expected counts are the reference's smoothed
shares times the logged count.

The logs are read once, in chunks (``payloads``), into online summaries (``summary``): memory does not grow
with the logs.

A feature counts as drifted when its PSI reaches the threshold (0.1: moderate shift, 0.2: the usual alarm,
0.25 and above: large); p-values are reported, not used for the decision (with thousands of rows they flag
shifts too small to matter). A side with fewer than ``MIN_ROWS`` rows (the reference of an ``example_input``
of three rows) is reported but never judged.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..exceptions import MonitorError
from .logfiles import Block
from .summary import CategoricalSummary, NumericSummary, feed, summary_for

MIN_ROWS = 30
SMOOTHING = 0.5
OTHER = "(other)"
SHOWN_NAMES = 64  # logged column names kept for the message that none of them is profiled


@dataclass
class FeatureDrift:
    side: str
    name: str
    kind: str
    test: str
    psi: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    reference_rows: int = 0
    observed_rows: int = 0
    observed_missing: int = 0
    drifted: bool = False
    note: str = ""
    chart: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SideSummaries:
    """The online summaries of one side (the profile's inputs or outputs), fed the logged columns chunk by chunk."""

    def __init__(self, section: dict[str, Any] | None, side: str) -> None:
        self.side = side
        self.features: list[dict[str, Any]] = list((section or {}).get("features") or [])
        self.summaries = [summary_for(feature) for feature in self.features]
        self.by_source: dict[str, list[Any]] = {}
        for feature, summary in zip(self.features, self.summaries, strict=True):
            self.by_source.setdefault(feature.get("derived_from") or feature["name"], []).append(summary)
        self.found: set[str] = set()  # profiled columns seen in the logs
        self.logged: set[str] = set()  # some of the logged columns' names, for the message when none is profiled

    def add(self, blocks: list[Block]) -> None:
        """Blocks of logged rows: a column a block lacks is missing in all its rows."""
        for block in blocks:
            if not block.rows:
                continue
            if len(self.logged) < SHOWN_NAMES:
                self.logged.update(list(block.columns)[:SHOWN_NAMES])
            for source, summaries in self.by_source.items():
                column = block.columns.get(source)
                if column is not None:
                    self.found.add(source)
                for summary in summaries:
                    if column is None:
                        summary.add_missing(block.rows)
                    else:
                        feed(summary, column)


def compare(summaries: SideSummaries, threshold: float) -> list[Any]:
    """One ``FeatureDrift`` per profiled feature of the side ``summaries`` was fed."""
    side, features = summaries.side, summaries.features
    if not features or not summaries.logged:
        return []
    if not summaries.found:
        shown = ", ".join(sorted(summaries.logged)[:6])
        wanted = sorted(summaries.by_source)
        raise MonitorError(
            f"the logged {side} columns ({shown}) are none of the profile's ({', '.join(wanted[:6])}): "
            "these payloads come from a model with other inputs; compare them with the version that logged them "
            "(NAME@vN)"
        )
    results = []
    for feature, summary in zip(features, summaries.summaries, strict=True):
        if (feature.get("derived_from") or feature["name"]) not in summaries.found:
            results.append(FeatureDrift(side, feature["name"], feature["kind"], "-", note="not in the payloads"))
            continue
        if isinstance(summary, NumericSummary):
            result = numeric_drift(summary, side)
        else:
            result = categorical_drift(summary, side)
        _judge(result, threshold)
        results.append(result)
    return results


def _judge(result: FeatureDrift, threshold: float) -> None:
    if result.note:
        return
    if result.reference_rows < MIN_ROWS:
        result.note = f"reference has {result.reference_rows} rows: export with --reference to judge this"
    elif result.observed_rows < MIN_ROWS:
        result.note = f"only {result.observed_rows} logged rows"
    elif result.psi is not None:
        result.drifted = result.psi >= threshold


def numeric_drift(summary: NumericSummary, side: str) -> FeatureDrift:
    import numpy as np

    feature = summary.feature
    result = FeatureDrift(side, feature["name"], "numeric", "ks", reference_rows=int(feature.get("count", 0)))
    result.observed_rows, result.observed_missing = summary.count, summary.missing
    histogram = feature.get("histogram")
    if not histogram or summary.count == 0 or summary.sketch is None or summary.bins is None:
        result.note = "no values to compare" if histogram else "the reference has no values"
        return result
    edges = np.asarray(histogram["edges"], dtype=np.float64)
    reference_counts = np.asarray(histogram["counts"], dtype=np.float64)
    observed_counts = summary.bins.astype(np.float64)
    result.psi = psi(reference_counts, observed_counts)
    result.statistic = summary.sketch.ks_statistic(summary.cdf)
    result.p_value = ks_p_value(result.statistic, summary.count, int(feature.get("count", 0)))
    labels = ["below", *(f"{_short(a)}..{_short(b)}" for a, b in itertools.pairwise(edges)), "above"]
    result.chart = {
        "labels": labels,
        "reference": _shares(reference_counts),
        "observed": _shares(observed_counts),
        "mean": [feature.get("mean"), summary.total / summary.count],
    }
    return result


def categorical_drift(summary: CategoricalSummary, side: str) -> FeatureDrift:
    import numpy as np

    feature = summary.feature
    frequencies: dict[str, int] = feature.get("frequencies") or {}
    observed_counts = summary.counts.astype(np.float64)
    reference_counts = np.asarray([*frequencies.values(), feature.get("other", 0)], dtype=np.float64)
    result = FeatureDrift(side, feature["name"], "categorical", "chi2", reference_rows=int(feature.get("count", 0)))
    result.observed_rows, result.observed_missing = summary.count, summary.missing
    if not summary.count or reference_counts.sum() == 0:
        result.note = "no values to compare"
        return result
    keep = (reference_counts + observed_counts) > 0
    reference_counts, observed_counts = reference_counts[keep], observed_counts[keep]
    labels = [label for label, kept in zip([*summary.categories, OTHER], keep, strict=True) if kept]
    result.psi = psi(reference_counts, observed_counts)
    result.statistic, result.p_value = chi_square(reference_counts, observed_counts)
    result.chart = {"labels": labels, "reference": _shares(reference_counts), "observed": _shares(observed_counts)}
    return result


def psi(reference_counts: Any, observed_counts: Any) -> float:
    import numpy as np

    reference = _smoothed(reference_counts)
    observed = _smoothed(observed_counts)
    return float(np.sum((observed - reference) * np.log(observed / reference)))


def _smoothed(counts: Any) -> Any:
    return (counts + SMOOTHING) / (counts.sum() + SMOOTHING * len(counts))


def chi_square(reference_counts: Any, observed_counts: Any) -> tuple[float | None, float | None]:
    """Pearson's chi-square of the logged counts against the reference's (smoothed) shares."""
    if len(observed_counts) < 2:
        return 0.0, 1.0
    expected = _smoothed(reference_counts) * observed_counts.sum()
    statistic = float(((observed_counts - expected) ** 2 / expected).sum())
    stats = _scipy_stats()
    return statistic, float(stats.chi2.sf(statistic, len(observed_counts) - 1))


def ks_p_value(statistic: float, observed_rows: int, reference_rows: int) -> float:
    """The asymptotic Kolmogorov distribution's tail at ``D * sqrt(n * m / (n + m))``."""
    n, m = observed_rows, max(reference_rows, 1)
    return float(_scipy_stats().kstwobign.sf(statistic * math.sqrt(n * m / (n + m))))


def _scipy_stats() -> Any:
    try:
        import scipy.stats
    except ImportError:
        raise MonitorError("monitor needs scipy for its tests: pip install 'jupyter-deploy-kserve[monitor]'") from None
    return scipy.stats


def _shares(counts: Any) -> list[float]:
    total = float(counts.sum()) or 1.0
    return [round(float(count) / total, 6) for count in counts]


def _short(value: float) -> str:
    return f"{value:.3g}"
