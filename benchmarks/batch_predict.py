"""Batch prediction benchmark: ``jupyter-deploy predict`` on 100,000 rows of the quickstart.

The quickstart notebook (examples/quickstart.ipynb: a torch MLP over 8 float features) is exported with
``--execute``; 100,000 rows (an id and 8 features) are written to Parquet. Three figures, rows per second:
1. ``predict``: ``batch.run.predict_file`` (what the CLI calls) reading the Parquet file, predicting in
   chunks of --batch-size rows, writing the Parquet output; timed without Python start-up and model load
   (``predict_seconds``; the end-to-end CLI time, start-up included, is printed too);
2. the notebook's own ``predict`` called in-process on the same batches, already tensors (no file I/O);
3. the served version (``jupyter-deploy serve``), one row per v1 request at concurrency 32, aiohttp as load
   generator; measured on --requests requests and extrapolated to 100,000 (rows/s does not depend on the count).
Targets: (1)/(2) >= 0.8, (1)/(3) >= 10. Torch uses one thread in this process. Usage:
``python benchmarks/batch_predict.py [--rows 100000] [--requests 4000]``; about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "jupyter-deploy")


def export_quickstart(root: Path) -> None:
    shutil.copy(REPO / "examples" / "quickstart.ipynb", root / "quickstart.ipynb")
    done = subprocess.run(
        [CLI, "export", "quickstart.ipynb", "--execute", "--requirement", "pandas", "--requirement", "pyarrow"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"export failed: {done.stderr[-2000:]}")


def write_rows(root: Path, rows: int) -> Any:
    import numpy as np
    import pandas as pd

    features = (np.random.default_rng(0).normal(size=(rows, 8)) * 3).astype(np.float32)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(8)])
    frame.insert(0, "id", np.arange(rows))
    frame.to_parquet(root / "rows.parquet", index=False)
    return features


def batch_predict(root: Path, batch_size: int, repeats: int = 3) -> tuple[float, dict[str, Any]]:
    from jupyter_deploy.batch.run import BatchRequest, predict_file

    best, result = float("inf"), {}
    for _ in range(repeats):
        request = BatchRequest(
            root, "quickstart", root / "rows.parquet", root / "out.parquet", batch_size, ["id"], True, False
        )
        result = predict_file(request)
        best = min(best, result["predict_seconds"])
    return best, result


def notebook_predict(features: Any, batch_size: int, repeats: int = 3) -> float:
    """The notebook's predict (the exported module's own function) on the same batches, as tensors."""
    import torch

    predict = sys.modules["_jd_predictor"].predict
    batches = [torch.from_numpy(features[start : start + batch_size]) for start in range(0, len(features), batch_size)]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                predict(batch)
        best = min(best, time.perf_counter() - started)
    return best


async def served(url: str, features: Any, requests: int, concurrency: int) -> float:
    import aiohttp

    bodies = [json.dumps({"instances": [features[i % len(features)].tolist()]}).encode() for i in range(requests)]
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def client(offset: int, count: int) -> None:
            for index in range(offset, offset + count):
                async with session.post(url, data=bodies[index], headers=headers) as response:
                    assert response.status == 200, await response.text()
                    await response.read()

        await asyncio.gather(*(client(i * 10, 10) for i in range(concurrency)))  # warm-up
        share = requests // concurrency
        started = time.perf_counter()
        await asyncio.gather(*(client(i * share, share) for i in range(concurrency)))
        return (share * concurrency) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--requests", type=int, default=4000, help="served requests measured (then extrapolated)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions of figures 1 and 2")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory).resolve()
        export_quickstart(root)
        features = write_rows(root, args.rows)

        # interleaved, best of --repeats each: the machine is shared, and both sides should see the same load
        seconds, inline_seconds = float("inf"), float("inf")
        for _ in range(args.repeats):
            seconds = min(seconds, batch_predict(root, args.batch_size, 1)[0])
            inline_seconds = min(inline_seconds, notebook_predict(features, args.batch_size, 1))
        ours, inline = args.rows / seconds, args.rows / inline_seconds
        started = time.perf_counter()
        cli = subprocess.run(
            [CLI, "predict", "quickstart", "rows.parquet", "-o", "cli.parquet", "--key", "id", "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        cli_wall = time.perf_counter() - started

        from jupyter_deploy.serving.local import start_server

        server = start_server(root, "quickstart", port=0)
        try:
            served_rate = asyncio.run(served(server.v1_url, features, args.requests, args.concurrency))
        finally:
            server.stop()

    print(f"quickstart, {args.rows:,} rows of 8 float features, batches of {args.batch_size}, torch 1 thread")
    print(f"  1. jupyter-deploy predict (Parquet in and out): {ours:12,.0f} rows/s  ({seconds * 1000:.0f} ms)")
    print(f"     end to end from the shell, start-up and model load included: {cli_wall:.1f} s")
    print(f"     ({json.loads(cli.stdout)['predict_seconds'] * 1000:.0f} ms of it reading, predicting, writing)")
    print(f"  2. notebook predict in-process, same batches:  {inline:12,.0f} rows/s")
    print(
        f"  3. served, v1, 1 row a request, concurrency {args.concurrency}: {served_rate:12,.0f} rows/s "
        f"(measured on {args.requests:,} requests; {args.rows:,} would take {args.rows / served_rate:.0f} s)"
    )
    print(f"  predict / in-process: {ours / inline:.2f}x (target >= 0.8x)")
    print(f"  predict / served:     {ours / served_rate:.0f}x (target >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
