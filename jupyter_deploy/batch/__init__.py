"""Batch prediction: a version's predictor over a table file (``run``), formats (``io``), and the same on a
Kubernetes cluster as an Indexed Job (``job``). Nothing heavy is imported here."""

from __future__ import annotations
