"""Prometheus metrics that KServe does not already expose at ``/metrics``.

KServe 0.21 registers ``request_preprocess_seconds``, ``request_predict_seconds`` and
``request_postprocess_seconds`` (histograms by ``model_name``) in the default registry. They time the
model's methods, so requests refused before predict (bad JSON, wrong Content-Type, oversized bodies) are
not counted and there is no request counter by status. We add, for the inference routes:
``jupyter_deploy_requests_total{model_name,protocol,code}``, ``jupyter_deploy_request_seconds``
(whole request, HTTP included) and, when batching, ``jupyter_deploy_batch_rows`` and
``jupyter_deploy_batch_requests`` per batch run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter(
    "jupyter_deploy_requests",
    "Inference requests answered, by model, protocol and HTTP status",
    ["model_name", "protocol", "code"],
)
REQUEST_SECONDS = Histogram(
    "jupyter_deploy_request_seconds",
    "Inference request latency, from request start to response start",
    ["model_name", "protocol"],
    buckets=LATENCY_BUCKETS,
)
BATCH_ROWS = Histogram(
    "jupyter_deploy_batch_rows",
    "Rows (batch dimension) per batched predict call",
    ["model_name"],
    buckets=BATCH_BUCKETS,
)
BATCH_REQUESTS = Histogram(
    "jupyter_deploy_batch_requests", "Requests per batched predict call", ["model_name"], buckets=BATCH_BUCKETS
)


def observe_request(model_name: str, protocol: str, code: int, seconds: float) -> None:
    counter, histogram = _request_series(model_name, protocol, code)
    counter.inc()
    histogram.observe(seconds)


@functools.lru_cache(maxsize=256)
def _request_series(model_name: str, protocol: str, code: int) -> tuple[Any, Any]:
    """The labelled series, looked up once: ``labels()`` validates and locks on every call, which cost about a
    tenth of a small model's request time. The guard passes only served model names, so the set is small."""
    return REQUESTS.labels(model_name, protocol, str(code)), REQUEST_SECONDS.labels(model_name, protocol)


def batch_observer(model_name: str) -> Callable[[int, int], None]:
    rows_histogram = BATCH_ROWS.labels(model_name)
    requests_histogram = BATCH_REQUESTS.labels(model_name)

    def observe(rows: int, requests: int) -> None:
        rows_histogram.observe(rows)
        requests_histogram.observe(requests)

    return observe
