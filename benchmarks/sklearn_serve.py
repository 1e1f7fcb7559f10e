"""Serving overhead for a scikit-learn pipeline on a DataFrame: our server against the in-process predict.

A ColumnTransformer (StandardScaler on four numbers, OneHotEncoder on a text column) and a
LogisticRegression, exported with ``jupyter-deploy export --execute`` (skops, no pickle) and served on
loopback. One-row v1 requests (records) at concurrency 1 over a keep-alive connection; p50 of those minus
the p50 of the same predict called in-process on a ready one-row DataFrame (target: <= 1 ms), measured in
alternating blocks. Usage:
``python benchmarks/sklearn_serve.py [--quick]``; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CELLS = (
    "import numpy as np\nimport pandas as pd\nfrom sklearn.compose import ColumnTransformer\n"
    "from sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import OneHotEncoder, StandardScaler",
    "iris = load_iris(as_frame=True)\n"
    "frame = iris.data.rename(columns=lambda c: c.replace(' (cm)', '').replace(' ', '_'))\n"
    "frame['size'] = np.where(frame['sepal_length'] > 5.8, 'big', 'small')\n"
    "numeric = [c for c in frame.columns if c != 'size']\n"
    "model = Pipeline([\n"
    "    ('prep', ColumnTransformer([('num', StandardScaler(), numeric), ('cat', OneHotEncoder(), ['size'])])),\n"
    "    ('clf', LogisticRegression(max_iter=500)),\n"
    "]).fit(frame, iris.target)",
    "%%deploy example --name tab\nexample_input = frame.iloc[[0, 60, 120]]",
    "%%deploy predict --name tab\ndef predict(rows):\n    return model.predict_proba(rows)",
)


def notebook(path: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    book = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    for index, source in enumerate(CELLS):
        cell = new_code_cell(source)
        cell["id"] = f"c{index}"
        book.cells.append(cell)
    nbformat.write(book, path)
    return path


def rows(count: int) -> list[dict[str, Any]]:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True).data.sample(count, replace=True, random_state=0)
    records = []
    for values in data.to_numpy().tolist():
        record = dict(zip(("sepal_length", "sepal_width", "petal_length", "petal_width"), values, strict=True))
        record["size"] = "big" if values[0] > 5.8 else "small"
        records.append(record)
    return records


def in_process(version: Path, records: list[dict[str, Any]]) -> Any:
    """The version's own predictor, loaded here: a callable timing ``run`` on a ready one-row DataFrame
    (no codec, no HTTP)."""
    import pandas as pd

    sys.path.insert(0, str(version))
    spec = importlib.util.spec_from_file_location("_bench_predictor", version / "predictor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TabPredictor()
    model.load()
    example = model.load_example_input()
    frames = [pd.DataFrame([record])[list(example.columns)].astype(example.dtypes.to_dict()) for record in records]

    def one(index: int) -> float:
        start = time.perf_counter()
        model.run(frames[index % len(frames)]).tolist()
        return time.perf_counter() - start

    return one


def served(url: str, records: list[dict[str, Any]]) -> Any:
    """A callable timing one one-row v1 records request over one keep-alive connection; with an empty
    ``records``, a GET of ``url`` (the health check: what any request costs in transport alone)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    bodies = [json.dumps({"instances": [record]}).encode() for record in records]
    headers = {"Content-Type": "application/json"}

    def one(index: int) -> float:
        start = time.perf_counter()
        if bodies:
            connection.request("POST", parts.path, body=bodies[index % len(bodies)], headers=headers)
        else:
            connection.request("GET", parts.path)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
        return time.perf_counter() - start

    return one


def interleaved(timers: list[Any], requests: int, block: int = 50) -> list[list[float]]:
    """All measured in alternating blocks, so a busy machine slows each alike."""
    for index in range(100):  # warm-up: the server's dispatcher settles, caches fill
        for timer in timers:
            timer(index)
    timings: list[list[float]] = [[] for _ in timers]
    for start in range(0, requests, block):
        for timer, record in zip(timers, timings, strict=True):
            record.extend(timer(index) for index in range(start, start + block))
    return timings


def server_side_ms(base_url: str) -> float:
    """Mean of KServe's ``request_predict_seconds`` for the model (all requests, warm-up included)."""
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:  # our own loopback server
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        for key in ("request_predict_seconds_sum", "request_predict_seconds_count"):
            if line.startswith(key + "{") and 'model_name="tab"' in line:
                values[key] = float(line.rsplit(" ", 1)[1])
    count = values.get("request_predict_seconds_count") or 1.0
    return 1000 * values.get("request_predict_seconds_sum", 0.0) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = parser.parse_args()
    requests = 300 if args.quick else 2000
    records = rows(256)

    from jupyter_deploy.serving.local import start_server

    with tempfile.TemporaryDirectory(prefix="jd-bench-sklearn-") as temp:
        work = Path(temp)
        notebook(work / "tab.ipynb")
        cli = Path(sys.executable).parent / "jupyter-deploy"
        done = subprocess.run(
            [str(cli), "export", "tab.ipynb", "--execute", "--json"], cwd=work, capture_output=True, text=True
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        info = json.loads(done.stdout)["info"]
        version = work / "deployments" / "tab" / info["version"]
        direct = in_process(version, records)
        server = start_server(work, "tab", port=0)
        try:
            timers = [direct, served(server.v1_url, records), served(f"{server.base_url}/v2/health/live", [])]
            direct_times, served_times, health_times = interleaved(timers, requests)
            inside = server_side_ms(server.base_url)
        finally:
            server.stop()

    served_p50, direct_p50 = 1000 * statistics.median(served_times), 1000 * statistics.median(direct_times)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {requests} requests each")
    print("| measure | p50 ms |\n|---|---|")
    print(f"| in-process predict (one-row DataFrame) | {direct_p50:.3f} |")
    print(f"| served, v1 records, concurrency 1 | {served_p50:.3f} |")
    print(f"| overhead (served - in-process) | {served_p50 - direct_p50:.3f} (target <= 1.0) |")
    print(f"| server side: decode + predict + encode (KServe's histogram, mean) | {inside:.3f} |")
    print(f"| transport alone: GET /v2/health/live on the same server | {1000 * statistics.median(health_times):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
