"""Serving overhead for a scikit-learn pipeline on a DataFrame: our server against the in-process predict.

A ColumnTransformer (StandardScaler on four numbers, OneHotEncoder on a text column) and a
LogisticRegression, exported with ``jupyter-deploy export --execute`` (skops, no pickle) and served on
loopback. One-row v1 requests (records) at concurrency 1 over a keep-alive connection; p50 of those minus
the p50 of the same predict called in-process on a ready one-row DataFrame (target: <= 1 ms). Usage:
``python benchmarks/sklearn_serve.py [--quick]``; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
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


def in_process(version: Path, records: list[dict[str, Any]], requests: int) -> list[float]:
    """The version's own predictor, loaded here: ``run`` on ready one-row DataFrames (no codec, no HTTP)."""
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
    for frame in frames[:50]:
        model.run(frame)
    latencies = []
    for index in range(requests):
        start = time.perf_counter()
        model.run(frames[index % len(frames)]).tolist()
        latencies.append(time.perf_counter() - start)
    return latencies


def served(url: str, records: list[dict[str, Any]], requests: int) -> list[float]:
    """One-row v1 records, one at a time over one keep-alive connection."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    bodies = [json.dumps({"instances": [record]}).encode() for record in records]
    headers = {"Content-Type": "application/json"}

    def one(body: bytes) -> float:
        start = time.perf_counter()
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
        return time.perf_counter() - start

    for body in bodies[:100]:
        one(body)
    latencies = [one(bodies[index % len(bodies)]) for index in range(requests)]
    connection.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = parser.parse_args()
    requests = 300 if args.quick else 2000
    records = rows(256)

    from jupyter_deploy.serve import start_server

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
        server = start_server(work, "tab", port=0)
        try:
            over_http = served(server.v1_url, records, requests)
        finally:
            server.stop()
        direct = in_process(version, records, requests)

    served_p50, direct_p50 = 1000 * statistics.median(over_http), 1000 * statistics.median(direct)
    print("| measure | p50 ms |\n|---|---|")
    print(f"| in-process predict (one-row DataFrame) | {direct_p50:.3f} |")
    print(f"| served, v1 records, concurrency 1 | {served_p50:.3f} |")
    print(f"| overhead (served - in-process) | {served_p50 - direct_p50:.3f} (target <= 1.0) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
