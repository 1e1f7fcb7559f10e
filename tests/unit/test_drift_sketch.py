"""The drift statistics from streamed summaries: the Kolmogorov-Smirnov D of the CDF sketch against the exact
figure, the bin and category counts against the profile's own counting, and chunking that changes nothing.

Oracles: scipy's exact two-sample KS on the raw reference and logged values (a reference with few distinct
values, which the profile keeps exactly), and, for a continuous reference, the statistic as the README defines
it (the reference's 101 percentiles with a linear CDF between them; D the largest gap over the percentiles and
the logged values), computed here by brute force on every logged value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import ks_2samp

from jupyter_deploy.monitor.drift import categorical_drift, numeric_drift
from jupyter_deploy.monitor.profile import bin_counts, categorical_feature, category_text, numeric_feature
from jupyter_deploy.monitor.summary import SUBDIVISIONS, CategoricalSummary, NumericSummary

RNG = np.random.default_rng(11)
REFERENCE = RNG.normal(3.0, 2.0, 20_000)
# logged samples that put the sketch to work: unshifted, shifted, a tight cluster inside one percentile,
# point masses on and between the reference's percentiles, values far outside the reference's range
LOGGED = {
    "same": RNG.normal(3.0, 2.0, 30_000),
    "shifted": RNG.normal(3.6, 2.0, 30_000),
    "cluster": np.concatenate([RNG.normal(3.0, 2.0, 5_000), RNG.normal(3.01, 0.001, 5_000)]),
    "ties": np.round(RNG.normal(3.0, 2.0, 20_000), 1),
    "outside": np.concatenate([RNG.normal(3.0, 2.0, 5_000), np.full(700, -50.0), np.full(300, 99.0)]),
    "percentiles": np.repeat(np.quantile(REFERENCE, [0.1, 0.5, 0.9]), 1_000),
}


def streamed(feature: dict[str, Any], values: np.ndarray, chunks: int) -> NumericSummary:
    summary = NumericSummary(feature)
    for part in np.array_split(values, chunks):
        summary.add([*part.tolist(), None])  # as logged: plain values, with a missing one per chunk
    return summary


def percentile_ks(feature: dict[str, Any], logged: np.ndarray) -> float:
    """The README's D by brute force: the gap at every reference percentile and every logged value."""
    quantiles = np.asarray(feature["percentiles"])
    probabilities = np.linspace(0.0, 1.0, quantiles.size)
    points = np.unique(quantiles)
    tops = np.array([probabilities[quantiles == point].max() for point in points])
    observed = np.sort(logged)
    grid = np.union1d(points, observed)
    observed_cdf = np.searchsorted(observed, grid, side="right") / observed.size
    return float(np.max(np.abs(observed_cdf - np.interp(grid, points, tops, left=0.0, right=1.0))))


@pytest.mark.parametrize("label", sorted(LOGGED))
def test_the_sketch_gives_ks_within_its_bound_of_the_exact_statistic(label: str) -> None:
    feature = numeric_feature("x", REFERENCE)
    assert "values" not in feature  # a continuous reference: percentiles
    logged = LOGGED[label]
    result = numeric_drift(streamed(feature, logged, 7), "input")
    exact = percentile_ks(feature, logged)
    # low by at most the reference CDF's rise over one sub-interval (a percentile's 1/100 over SUBDIVISIONS)
    assert exact - 0.01 / SUBDIVISIONS - 1e-12 <= result.statistic <= exact + 1e-12, (result.statistic, exact)
    # and as close to the exact two-sample KS on the raw data as the profile allows (about a percentile)
    assert result.statistic == pytest.approx(ks_2samp(REFERENCE, logged).statistic, abs=0.011)
    assert result.observed_rows == logged.size and result.observed_missing == 7


@pytest.mark.parametrize("label", ["same", "shifted", "outside", "between"])
def test_a_reference_with_few_values_gives_the_exact_two_sample_ks(label: str) -> None:
    reference = RNG.integers(0, 6, 5_000).astype(np.float64)
    logged = {
        "same": RNG.integers(0, 6, 8_000),
        "shifted": RNG.integers(1, 7, 8_000),
        "outside": RNG.integers(-3, 10, 8_000),
        "between": RNG.integers(0, 12, 8_000) / 2.0,  # half of them between the reference's values
    }[label].astype(np.float64)
    feature = numeric_feature("items", reference)
    assert feature["values"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    result = numeric_drift(streamed(feature, logged, 5), "input")
    assert result.statistic == pytest.approx(ks_2samp(reference, logged).statistic, abs=1e-12)


def test_chunking_changes_nothing() -> None:
    feature = numeric_feature("x", REFERENCE)
    logged = LOGGED["shifted"]
    whole, pieces = (
        numeric_drift(streamed(feature, logged, 1), "input"),
        numeric_drift(streamed(feature, logged, 97), "input"),
    )
    assert (whole.psi, whole.statistic, whole.p_value) == (pieces.psi, pieces.statistic, pieces.p_value)
    assert whole.chart["observed"] == pieces.chart["observed"]
    assert whole.chart["mean"][1] == pytest.approx(logged.mean(), rel=1e-12)
    # the PSI bins are the profile's: its own bin_counts on all the logged values at once
    counts = bin_counts(np.asarray(feature["histogram"]["edges"]), logged)
    assert whole.chart["observed"] == [round(count / counts.sum(), 6) for count in counts]


def test_categories_are_counted_as_the_profile_keys_them() -> None:
    """Values equal in Python but different categories (True, 1, 1.0, "1", "true"), containers, missing ones,
    from JSON Lines (lists) and from Parquet (Arrow arrays)."""
    import pyarrow as pa

    reference = categorical_feature("plan", ["pro", "free", "1", "true", "2.5", "[1, 2]"] * 10)
    summary = CategoricalSummary(reference)
    logged = ["pro", True, 1, 1.0, "1", "true", None, [1, 2], {"a": 1}, 2.5, "free", "team", False, 0]
    parquet = ["pro", None, "free", "zz", "pro"]
    summary.add(logged * 3)
    summary.add(pa.array(parquet))
    summary.add(np.array(logged, dtype=object))
    texts = [category_text(value) for value in logged * 4 + parquet if value is not None]
    expected = [texts.count(category) for category in reference["frequencies"]]
    result = categorical_drift(summary, "input")
    assert summary.counts.tolist() == [*expected, len(texts) - sum(expected)]
    assert (result.observed_rows, result.observed_missing) == (len(texts), 4 + 1)
