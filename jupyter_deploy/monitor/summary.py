"""Online summaries of logged values, one per profiled feature: what drift needs, in memory that does not grow
with the logs.

- numeric: the count of finite values, of missing ones and their sum; counts over the profile's histogram
  bins (PSI); and a sketch of the logged CDF for Kolmogorov-Smirnov (``CdfSketch``);
- categorical: counts over the profile's most frequent values plus one bucket for everything else.

``CdfSketch`` cuts the line at the reference's CDF points (its distinct values, or its distinct percentiles)
and, between two percentiles, at ``SUBDIVISIONS - 1`` more points. It keeps, per cut point, how many logged
values equal it, and per open interval between cut points, how many fall inside, the smallest (with how many
equal it) and the largest. That gives the logged CDF exactly at every reference point and at the smallest
and largest logged value of every interval, which is where the KS statistic ``drift`` reports (the largest
gap between the two CDFs over the reference's points and the logged values) is reached wherever the reference
CDF is flat: outside the reference's range and between distinct reference values, so D is exact there.
Between percentiles, where the reference CDF rises linearly, a gap at a logged value inside an interval can
exceed the gaps at the interval's ends by at most the reference CDF's rise over the interval: D is exact or
low by at most that (one percentile, 0.01, over ``SUBDIVISIONS``: 0.0006 for continuous data), well inside
the percentile accuracy the profile itself gives.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from .logfiles import plain_values
from .profile import category_text

SUBDIVISIONS = 16  # sub-intervals of the CDF sketch between two reference percentiles


def reference_cdf(feature: dict[str, Any]) -> tuple[Any, Callable[[Any], Any], bool]:
    """(the reference's CDF points, its CDF, whether it is a step function) as the profile keeps it: the exact
    step CDF over the distinct values when the profile kept them, else linear between the 101 percentiles."""
    import numpy as np

    if feature.get("values") is not None:
        points = np.asarray(feature["values"], dtype=np.float64)
        counts = np.asarray(feature["histogram"]["counts"][1:-1], dtype=np.float64)
        steps = np.cumsum(counts) / max(counts.sum(), 1.0)

        def step_cdf(x: Any) -> Any:
            position = np.searchsorted(points, x, side="right") - 1
            return np.where(position >= 0, steps[np.clip(position, 0, None)], 0.0)

        return points, step_cdf, True
    quantiles = np.asarray(feature["percentiles"], dtype=np.float64)
    probabilities = np.linspace(0.0, 1.0, len(quantiles))
    points, last = np.unique(quantiles[::-1], return_index=True)  # each value's highest percentile
    tops = probabilities[::-1][last]

    def linear_cdf(x: Any) -> Any:
        return np.interp(x, points, tops, left=0.0, right=1.0)

    return points, linear_cdf, False


class CdfSketch:
    """The logged values' CDF at the points KS needs, from counts over fixed cut points (see the module)."""

    def __init__(self, points: Any, subdivide: bool) -> None:
        import numpy as np

        cuts = [points]
        if subdivide and points.size > 1:
            fractions = np.arange(1, SUBDIVISIONS) / SUBDIVISIONS
            cuts.append((points[:-1, None] + np.diff(points)[:, None] * fractions[None, :]).ravel())
        self.cuts = np.unique(np.concatenate(cuts))
        self.is_point = np.isin(self.cuts, points)
        size = self.cuts.size
        self.on_cut = np.zeros(size, dtype=np.int64)  # values equal to each cut point
        self.inside = np.zeros(size + 1, dtype=np.int64)  # values in (cut[k-1], cut[k]); 0: below, last: above
        self.low = np.full(size + 1, np.inf)
        self.low_ties = np.zeros(size + 1, dtype=np.int64)
        self.high = np.full(size + 1, -np.inf)

    def add(self, values: Any) -> None:
        """Sorted finite values: the cut points are looked up in them (a few thousand binary searches), not
        each value among the cut points."""
        import numpy as np

        left = np.searchsorted(values, self.cuts, side="left")  # values below each cut
        right = np.searchsorted(values, self.cuts, side="right")  # values at or below it
        self.on_cut += right - left
        starts = np.concatenate([[0], right])  # interval k: values[starts[k]:ends[k]], strictly between cuts
        ends = np.concatenate([left, [values.size]])
        inside = ends - starts
        self.inside += inside
        intervals = np.flatnonzero(inside)
        if not intervals.size:
            return
        low, high = values[starts[intervals]], values[ends[intervals] - 1]
        ties = np.searchsorted(values, low, side="right") - starts[intervals]
        known_low, known_ties = self.low[intervals], self.low_ties[intervals]
        self.low_ties[intervals] = np.where(
            low < known_low, ties, np.where(low == known_low, known_ties + ties, known_ties)
        )
        self.low[intervals] = np.minimum(known_low, low)
        self.high[intervals] = np.maximum(self.high[intervals], high)

    def ks_statistic(self, cdf: Callable[[Any], Any]) -> float:
        """The largest |logged CDF - ``cdf``| over the reference's points and the logged values kept."""
        import numpy as np

        total = int(self.on_cut.sum() + self.inside.sum())
        if total == 0:
            return 0.0
        at_or_below = np.cumsum(self.inside[:-1] + self.on_cut)  # logged values <= cut[k]
        before = np.concatenate([[0], at_or_below])  # logged values before interval k
        gaps = [0.0]
        shown = self.is_point | (self.on_cut > 0)  # reference points, and logged values that equal a cut
        if shown.any():
            gaps.append(float(np.max(np.abs(at_or_below[shown] / total - cdf(self.cuts[shown])))))
        filled = self.inside > 0
        if filled.any():
            highest = (before[filled] + self.inside[filled]) / total
            lowest = (before[filled] + self.low_ties[filled]) / total
            gaps.append(float(np.max(np.abs(highest - cdf(self.high[filled])))))
            gaps.append(float(np.max(np.abs(lowest - cdf(self.low[filled])))))
        return max(gaps)


class NumericSummary:
    """Counts for PSI over the profile's bins, count / missing / sum, and the CDF sketch for KS."""

    def __init__(self, feature: dict[str, Any]) -> None:
        import numpy as np

        self.feature = feature
        self.count = self.missing = 0
        self.total = 0.0
        histogram = feature.get("histogram")
        self.edges = np.asarray(histogram["edges"], dtype=np.float64) if histogram else None
        self.bins = np.zeros(len(self.edges) + 1, dtype=np.int64) if self.edges is not None else None
        self.sketch = None
        if histogram and feature.get("percentiles") is not None:
            points, self.cdf, step = reference_cdf(feature)
            self.sketch = CdfSketch(points, subdivide=not step)

    def add(self, column: Any) -> None:
        import numpy as np

        values = floats(column)
        finite = np.sort(values[np.isfinite(values)])  # sorted once: bins and sketch search in it
        self.count += int(finite.size)
        self.missing += int(values.size - finite.size)
        if not finite.size:
            return
        self.total += float(finite.sum())
        if self.bins is not None and self.edges is not None:  # ``profile.bin_counts``' bins, from the edges' places
            self.bins += np.diff(np.searchsorted(finite, self.edges, side="left"), prepend=0, append=finite.size)
        if self.sketch is not None:
            self.sketch.add(finite)

    def add_missing(self, rows: int) -> None:
        self.missing += rows


class CategoricalSummary:
    """Counts over the profile's most frequent values, then one bucket for any other value."""

    def __init__(self, feature: dict[str, Any]) -> None:
        import numpy as np

        self.feature = feature
        self.categories = list(feature.get("frequencies") or {})
        self.index = {category: position for position, category in enumerate(self.categories)}
        self.counts = np.zeros(len(self.categories) + 1, dtype=np.int64)
        self.count = self.missing = 0

    def add(self, column: Any) -> None:
        other = len(self.categories)
        for value, count in distinct_counts(column):
            if value is None:
                self.missing += count
            else:
                self.count += count
                self.counts[self.index.get(_text(value), other)] += count

    def add_missing(self, rows: int) -> None:
        self.missing += rows


def summary_for(feature: dict[str, Any]) -> NumericSummary | CategoricalSummary:
    return NumericSummary(feature) if feature["kind"] == "numeric" else CategoricalSummary(feature)


def feed(summary: NumericSummary | CategoricalSummary, column: Any) -> None:
    """One chunk of a logged column (a list, or a pyarrow array read from Parquet) into ``summary``."""
    if summary.feature.get("transform") == "length":
        column = [None if value is None else _length(value) for value in plain_values(column)]
    summary.add(column)


def floats(column: Any) -> Any:
    """A chunk as float64 (None and anything that is no number: NaN), without a Python loop when possible."""
    import numpy as np

    if hasattr(column, "to_pylist") and hasattr(column, "type"):  # pyarrow, from a Parquet log
        import pyarrow as pa

        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    column = plain_values(column)
    try:
        values = np.asarray(column, dtype=np.float64)
        if values.ndim == 1:
            return values
    except (TypeError, ValueError, OverflowError, RecursionError):
        pass
    return np.fromiter((_float(value) for value in column), dtype=np.float64, count=len(column))


def distinct_counts(column: Any) -> list[tuple[Any, int]]:
    """(value, count) for each distinct value of a chunk (None: missing), counted at C speed: Arrow's
    value_counts for a Parquet column, else a Counter keyed by (type, value), so that True, 1 and 1.0 (equal
    in Python, different categories) stay apart."""
    if hasattr(column, "to_pylist") and hasattr(column, "type"):
        import pyarrow.compute as pc

        return [(item["values"], item["counts"]) for item in pc.value_counts(column).to_pylist()]
    values = plain_values(column)
    try:
        counted = Counter(zip(map(type, values), values, strict=True))
    except TypeError:  # unhashable values (lists, dicts): one at a time
        counted = Counter((type(value), _text(value)) for value in values if value is not None)
        counted[(type(None), None)] = sum(1 for value in values if value is None)
    return [(value, count) for (_, value), count in counted.items()]


def _text(value: Any) -> str:
    try:
        return category_text(value)
    except RecursionError:
        return "(nested too deep)"


def _length(value: Any) -> float:
    try:
        return len(str(value))
    except RecursionError:
        return math.nan


def _float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return math.nan
