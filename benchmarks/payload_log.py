"""Payload logging overhead: the same version served with and without ``--log-payloads``, side by side.

The numpy ``scale`` deployment of tests/data (3 features, one row a request) is exported into a temporary
project and served twice on loopback; requests (v1 JSON, one at a time over a keep-alive connection) alternate
between the two servers so that machine noise falls on both. Prints p50/p90/p99 of each and the p50 difference
(target: under 0.2 ms), what was logged and dropped, and the request-path cost of ``PayloadLog.record`` alone.
Usage: ``python benchmarks/payload_log.py [--requests N] [--format jsonl|parquet]``; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def latencies(ports: dict[str, int], requests: int, warmup: int = 300) -> dict[str, list[float]]:
    connections = {label: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for label, port in ports.items()}
    timings: dict[str, list[float]] = {label: [] for label in ports}
    body = json.dumps({"instances": [[1.0, 2.0, 3.0]]})
    headers = {"Content-Type": "application/json"}
    for index in range(warmup + requests):
        for label, connection in connections.items():
            start = time.perf_counter()
            connection.request("POST", "/v1/models/scale:predict", body, headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                raise SystemExit(f"{label}: HTTP {response.status}")
            if index >= warmup:
                timings[label].append(elapsed)
    for connection in connections.values():
        connection.close()
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def record_cost(samples: int = 200_000) -> float:
    """Microseconds per ``PayloadLog.record`` call (the only work logging adds to a request)."""
    import numpy as np

    from jupyter_deploy.runtime.payload_log import PayloadLog

    with tempfile.TemporaryDirectory() as folder:
        log = PayloadLog(Path(folder), "bench", "v1", queue_size=samples + 1)
        inputs, outputs, payload = np.ones((1, 3), dtype=np.float32), np.ones((1, 3)), {"instances": [[1, 2, 3]]}
        start = time.perf_counter()
        for _ in range(samples):
            log.record(payload, None, inputs, outputs)
        elapsed = time.perf_counter() - start
        log.close()
    return elapsed / samples * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per server (default 5000)")
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    args = parser.parse_args()

    from jupyter_deploy.monitor.payloads import log_options, read_payloads
    from jupyter_deploy.serving.local import start_server
    from jupyter_deploy.versions.export import export_notebook

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        export_notebook(REPO / "tests" / "data" / "serve_scale.ipynb", root=root)
        plain = start_server(root, "scale", port=0)
        logged = start_server(root, "scale", port=0, payload_log=log_options(root / "payloads", args.format))
        try:
            timings = latencies({"without": plain.port, "with": logged.port}, args.requests)
        finally:
            plain.stop()
            logged.stop()
        payloads = read_payloads(root / "payloads", "scale")

    print(f"{args.requests} v1 requests per server, one at a time, interleaved; --log-format {args.format}")
    print(f"{'':22}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for label in ("without", "with"):
        values = timings[label]
        print(
            f"{label + ' --log-payloads':22}{percentile(values, 0.5) * 1e3:9.3f}{percentile(values, 0.9) * 1e3:9.3f}"
            f"{percentile(values, 0.99) * 1e3:9.3f}{statistics.fmean(values) * 1e3:9.3f}"
        )
    overhead = (percentile(timings["with"], 0.5) - percentile(timings["without"], 0.5)) * 1e3
    print(f"p50 overhead: {overhead:+.3f} ms (target < 0.2 ms)")
    warmup_total = 300 + args.requests
    print(f"logged: {payloads.requests} of {warmup_total} requests (the rest dropped or still queued at the stop)")
    print(f"PayloadLog.record on the request path: {record_cost():.2f} us per call")


if __name__ == "__main__":
    main()
