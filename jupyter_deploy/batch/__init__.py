"""Batch prediction: a version's predictor over a table file (``run``) in the formats of ``io``. The same
on a cluster is an Indexed Job written by ``jupyter_deploy.cluster.batch_job``. Nothing heavy is imported
here."""

from __future__ import annotations
