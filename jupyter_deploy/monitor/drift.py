"""Drift of logged values against a reference profile, feature by feature.

Numeric features:
- PSI (population stability index) over the profile's histogram bins (vigintiles of the reference, or one
  bin per value for a feature with few distinct values, plus a bin below and one above the reference's
  range): ``sum((o - r) * ln(o / r))`` over the bins' shares, each count smoothed by 0.5 so that an empty bin
  is finite.
- Kolmogorov-Smirnov, two-sample, with the reference represented by its profile: its exact step CDF when the
  profile kept its distinct values, else its 101 percentiles with the CDF linear between them (so D is
  accurate to about one percentile). D is the largest gap between the two CDFs over the logged values and
  the reference's percentiles; the p-value is the asymptotic Kolmogorov distribution at
  ``D * sqrt(n * m / (n + m))`` (n logged rows, m reference rows).
Categorical features: PSI and Pearson's chi-square over the reference's most frequent values plus one bucket
for everything else (values the reference never had land there); expected counts are the reference's smoothed
shares times the logged count.

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
from .profile import bin_counts, category_text

MIN_ROWS = 30
SMOOTHING = 0.5
OTHER = "(other)"


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


def compare(section: dict[str, Any] | None, columns: dict[str, list[Any]], side: str, threshold: float) -> list[Any]:
    """One ``FeatureDrift`` per profiled feature of ``section`` (the profile's inputs or outputs)."""
    if not section or not columns:
        return []
    features = section.get("features") or []
    wanted = {feature.get("derived_from") or feature["name"] for feature in features}
    if features and not wanted & set(columns):
        shown = ", ".join(sorted(columns)[:6])
        raise MonitorError(
            f"the logged {side} columns ({shown}) are none of the profile's ({', '.join(sorted(wanted)[:6])}): "
            "these payloads come from a model with other inputs; compare them with the version that logged them "
            "(NAME@vN)"
        )
    results = []
    for feature in features:
        source = feature.get("derived_from") or feature["name"]
        values = columns.get(source)
        if values is None:
            results.append(FeatureDrift(side, feature["name"], feature["kind"], "-", note="not in the payloads"))
            continue
        if feature.get("transform") == "length":
            values = [None if value is None else len(str(value)) for value in values]
        if feature["kind"] == "numeric":
            result = numeric_drift(feature, values, side)
        else:
            result = categorical_drift(feature, values, side)
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


def numeric_drift(feature: dict[str, Any], values: list[Any], side: str) -> FeatureDrift:
    import numpy as np

    observed = np.asarray([_float(value) for value in values], dtype=np.float64)
    finite = np.sort(observed[np.isfinite(observed)])
    result = FeatureDrift(side, feature["name"], "numeric", "ks", reference_rows=int(feature.get("count", 0)))
    result.observed_rows, result.observed_missing = int(finite.size), int(observed.size - finite.size)
    histogram = feature.get("histogram")
    if not histogram or finite.size == 0:
        result.note = "no values to compare" if histogram else "the reference has no values"
        return result
    edges = np.asarray(histogram["edges"], dtype=np.float64)
    reference_counts = np.asarray(histogram["counts"], dtype=np.float64)
    observed_counts = bin_counts(edges, finite).astype(np.float64)
    result.psi = psi(reference_counts, observed_counts)
    result.statistic, result.p_value = ks_against_profile(feature, finite)
    labels = ["below", *(f"{_short(a)}..{_short(b)}" for a, b in itertools.pairwise(edges)), "above"]
    result.chart = {
        "labels": labels,
        "reference": _shares(reference_counts),
        "observed": _shares(observed_counts),
        "mean": [feature.get("mean"), float(finite.mean())],
    }
    return result


def categorical_drift(feature: dict[str, Any], values: list[Any], side: str) -> FeatureDrift:
    import numpy as np

    present = [category_text(value) for value in values if value is not None]
    frequencies: dict[str, int] = feature.get("frequencies") or {}
    categories = list(frequencies)
    index = {category: position for position, category in enumerate(categories)}
    observed_counts = np.zeros(len(categories) + 1)
    for value in present:
        observed_counts[index.get(value, len(categories))] += 1
    reference_counts = np.asarray([*frequencies.values(), feature.get("other", 0)], dtype=np.float64)
    result = FeatureDrift(side, feature["name"], "categorical", "chi2", reference_rows=int(feature.get("count", 0)))
    result.observed_rows, result.observed_missing = len(present), len(values) - len(present)
    if not present or reference_counts.sum() == 0:
        result.note = "no values to compare"
        return result
    keep = (reference_counts + observed_counts) > 0
    reference_counts, observed_counts = reference_counts[keep], observed_counts[keep]
    labels = [label for label, kept in zip([*categories, OTHER], keep, strict=True) if kept]
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


def ks_against_profile(feature: dict[str, Any], observed_sorted: Any) -> tuple[float, float]:
    """(D, p-value) of the logged values against the reference's CDF as the profile keeps it."""
    import numpy as np

    reference_rows = int(feature.get("count", 0))
    if feature.get("values") is not None:
        points = np.asarray(feature["values"], dtype=np.float64)
        counts = np.asarray(feature["histogram"]["counts"][1:-1], dtype=np.float64)
        steps = np.cumsum(counts) / max(counts.sum(), 1.0)

        def reference_cdf(x: Any) -> Any:
            position = np.searchsorted(points, x, side="right") - 1
            return np.where(position >= 0, steps[np.clip(position, 0, None)], 0.0)

    else:
        quantiles = np.asarray(feature["percentiles"], dtype=np.float64)
        probabilities = np.linspace(0.0, 1.0, len(quantiles))
        points, last = np.unique(quantiles[::-1], return_index=True)  # each value's highest percentile
        tops = probabilities[::-1][last]

        def reference_cdf(x: Any) -> Any:
            return np.interp(x, points, tops, left=0.0, right=1.0)

    grid = np.union1d(points, observed_sorted)
    observed_cdf = np.searchsorted(observed_sorted, grid, side="right") / observed_sorted.size
    statistic = float(np.max(np.abs(observed_cdf - reference_cdf(grid))))
    n, m = observed_sorted.size, max(reference_rows, 1)
    scaled = statistic * math.sqrt(n * m / (n + m))
    return statistic, float(_scipy_stats().kstwobign.sf(scaled))


def _scipy_stats() -> Any:
    try:
        import scipy.stats
    except ImportError:
        raise MonitorError("monitor needs scipy for its tests: pip install 'jupyter-deploy-kserve[monitor]'") from None
    return scipy.stats


def _float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _shares(counts: Any) -> list[float]:
    total = float(counts.sum()) or 1.0
    return [round(float(count) / total, 6) for count in counts]


def _short(value: float) -> str:
    return f"{value:.3g}"
