"""Serving benchmark: our predictor against the raw call, a hand-written kserve.Model and `mlflow models serve`.

One run, same machine, loopback only. Two torch MLPs (tiny 32->64->64->4, medium 512->2048->2048->10),
one row per request (v1 JSON; our unbatched server also over v2 JSON), concurrency 1 and 32, aiohttp as the
load generator. Prints requests/s, p50 and p99 for each server with the share of a core the load generator
used (near 100%: it, not the server, set the pace), the ratios the serving issue targets, and the
health-check p99 while 200 ms synchronous predicts run. Usage: ``python benchmarks/serve.py [--quick]
[--no-mlflow]``; a few minutes on 2 cores."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

MODELS = {"tiny": (32, 64, 64, 4), "medium": (512, 2048, 2048, 10)}

BUILD = """
import torch
from torch import nn


def build(sizes):
    torch.manual_seed(0)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()
"""

HANDWRITTEN = '''
"""What a KServe user writes by hand: a kserve.Model with a synchronous predict."""
import sys
import time

import kserve
import torch
import uvicorn
from torch import nn
{build}

_config_init = uvicorn.Config.__init__


def _loopback(self, *args, **kwargs):  # KServe binds 0.0.0.0; the benchmark stays on loopback
    kwargs["host"] = "127.0.0.1"
    _config_init(self, *args, **kwargs)


uvicorn.Config.__init__ = _loopback


class Handwritten(kserve.Model):
    def __init__(self, name, sizes, sleep):
        super().__init__(name)
        self.sizes, self.sleep = sizes, sleep

    def load(self):
        self.net = build(self.sizes)
        self.ready = True

    def predict(self, payload, headers=None):
        if self.sleep:
            time.sleep(self.sleep)
        with torch.inference_mode():
            out = self.net(torch.tensor(payload["instances"], dtype=torch.float32))
        return {{"predictions": out.tolist()}}


if __name__ == "__main__":
    port, sizes, sleep = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")], float(sys.argv[3])
    model = Handwritten("model", sizes, sleep)
    model.load()
    kserve.ModelServer(http_port=port, enable_grpc=False).start([model])
'''


def notebook(path: Path, name: str, sizes: tuple[int, ...], sleep: float = 0.0) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [
        "import time\n\nimport torch\nfrom torch import nn",
        BUILD.split("from torch import nn\n", 1)[1].strip(),
        f"%%deploy load --name {name}\nnet = build({list(sizes)})",
        f"%%deploy example --name {name}\nexample_input = torch.ones(2, {sizes[0]})",
        f"%%deploy predict --name {name}\ndef predict(x):\n"
        + (f"    time.sleep({sleep})\n" if sleep else "")
        + "    return net(x)",
    ]
    book = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    for index, source in enumerate(cells):
        cell = new_code_cell(source)
        cell["id"] = f"c{index}"
        book.cells.append(cell)
    nbformat.write(book, path)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Proc:
    """A server subprocess with a predict URL and a body maker."""

    def __init__(self, command: list[str], port: int, ready: str, url: str, key: str, cwd: Path) -> None:
        # mlflow runs `uvicorn` from PATH: put this interpreter's bin directory first
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.url, self.key = url, key
        wait_http(ready, self.process)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def handwritten(work: Path, sizes: tuple[int, ...], sleep: float = 0.0) -> Proc:
    script = work / "handwritten.py"
    script.write_text(HANDWRITTEN.format(build=BUILD.split("from torch import nn\n", 1)[1]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(script), str(port), ",".join(map(str, sizes)), str(sleep)]
    return Proc(command, port, f"{base}/v2/models/model/ready", f"{base}/v1/models/model:predict", "instances", work)


def mlflow_server(work: Path, name: str, sizes: tuple[int, ...]) -> Proc:
    import mlflow.pytorch
    import numpy as np

    exec(BUILD, namespace := {})
    path = work / f"mlflow-{name}"
    if not path.exists():
        mlflow.pytorch.save_model(
            namespace["build"](list(sizes)),
            str(path),
            input_example=np.ones((2, sizes[0]), dtype=np.float32),  # 2 rows: a dynamic batch dim
            pip_requirements=["torch"],
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(path), "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    return Proc(command, port, f"{base}/ping", f"{base}/invocations", "inputs", work)


def request_body(key: str, row: list[list[float]]) -> bytes:
    """A one-row request: ``{key: [[...]]}`` (v1 "instances", mlflow "inputs"), or a v2 FP32 tensor."""
    if key == "v2":
        tensor = {"name": "x", "shape": [1, len(row[0])], "datatype": "FP32", "data": row[0]}
        return json.dumps({"inputs": [tensor]}).encode()
    return json.dumps({key: row}).encode()


async def load(url: str, key: str, width: int, concurrency: int, requests: int, seconds: float) -> dict[str, float]:
    """Send one-row requests with ``concurrency`` clients; requests/s, p50 and p99 (ms), and the share of one
    core the load generator itself used (near 1.0: the generator, not the server, set the pace)."""
    import aiohttp
    import numpy as np

    rng = np.random.default_rng(0)
    bodies = [request_body(key, rng.standard_normal((1, width)).round(4).tolist()) for _ in range(64)]
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int) -> float:
            start = time.perf_counter()
            async with session.post(url, data=bodies[index % 64], headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status}: {await response.text()}")
            return time.perf_counter() - start

        sent = 0

        async def client(offset: int, budget: int, until: float, record: list[float]) -> None:
            nonlocal sent
            while sent < budget and time.perf_counter() < until:
                sent += 1
                record.append(await one(sent + offset))

        # warm-up at the measured concurrency, the same for every server: a batching server meets its
        # batch shapes here, not inside the measured window
        warm_budget = min(requests, 20 * concurrency)
        await asyncio.gather(*(client(i, warm_budget, time.perf_counter() + 2.0, []) for i in range(concurrency)))
        sent = 0
        deadline = time.perf_counter() + seconds
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(i, requests, deadline, latencies) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {**summarize(latencies, elapsed), "client_cpu": (time.process_time() - cpu) / elapsed}


def summarize(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / elapsed,
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "n": len(ordered),
    }


def raw_call(sizes: tuple[int, ...], requests: int, seconds: float) -> dict[str, float]:
    """The floor: the model called in-process on one row, no HTTP."""
    import torch

    exec(BUILD, namespace := {})
    net = namespace["build"](list(sizes))
    rows = [torch.randn(1, sizes[0]) for _ in range(64)]
    latencies = []
    with torch.inference_mode():
        for row in rows[:20]:
            net(row)
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        for index in range(requests):
            if time.perf_counter() > deadline:
                break
            t = time.perf_counter()
            net(rows[index % 64]).tolist()
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
    return summarize(latencies, elapsed)


async def health_during_slow(predict_url: str, health_url: str, key: str, width: int, seconds: float) -> float:
    """p99 (ms) of health checks sent every 20 ms while 4 clients keep 200 ms synchronous predicts running."""
    import aiohttp

    body = json.dumps({key: [[1.0] * width]}).encode()
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def predictor() -> None:
            while time.perf_counter() < stop:
                async with session.post(predict_url, data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()

        async def checker() -> None:
            await asyncio.sleep(0.3)
            while time.perf_counter() < stop:
                start = time.perf_counter()
                async with session.get(health_url) as r:
                    await r.read()
                latencies.append(time.perf_counter() - start)
                await asyncio.sleep(0.02)

        await asyncio.gather(checker(), *(predictor() for _ in range(4)))
    return summarize(latencies, 1.0)["p99"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip mlflow models serve")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    seconds = 3.0 if args.quick else 6.0
    budget = {1: 200 if args.quick else 500, 32: 800 if args.quick else 3000}

    from jupyter_deploy.serving.local import start_server
    from jupyter_deploy.versions.export import export_notebook

    results: dict[tuple[str, int, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="jd-bench-serve-") as temp:
        work = Path(temp)
        for name, sizes in MODELS.items():
            export_notebook(notebook(work / f"{name}.ipynb", name, sizes), root=work)
        export_notebook(notebook(work / "slow.ipynb", "slow", MODELS["tiny"], sleep=0.2), root=work)

        for name, sizes in MODELS.items():
            width = sizes[0]
            print(f"# {name} MLP {'->'.join(map(str, sizes))}", file=sys.stderr, flush=True)
            for concurrency in (1, 32):
                results[(name, concurrency, "raw call")] = raw_call(sizes, budget[concurrency], seconds)
            servers: list[tuple[str, Any]] = []
            try:
                hand = handwritten(work, sizes)
                servers.append(("kserve.Model", (hand.url, "instances", hand.stop)))
                ours = start_server(work, name, port=0)
                servers.append(("ours", (ours.v1_url, "instances", ours.stop)))
                servers.append(("ours v2", (ours.v2_url, "v2", lambda: None)))
                batched = start_server(work, name, port=0, max_batch_size=32, max_latency_ms=5)
                servers.append(("ours batched", (batched.v1_url, "instances", batched.stop)))
                if not args.no_mlflow:
                    flow = mlflow_server(work, name, sizes)
                    servers.append(("mlflow serve", (flow.url, "inputs", flow.stop)))
                for concurrency in (1, 32):
                    for label, (url, key, _) in servers:
                        stats = asyncio.run(load(url, key, width, concurrency, budget[concurrency], seconds))
                        results[(name, concurrency, label)] = stats
                        print(f"  c={concurrency:<2} {label:13} {stats['rps']:8.0f} req/s", file=sys.stderr, flush=True)
            finally:
                for _, (_, _, stop) in servers:
                    stop()

        hand = handwritten(work, MODELS["tiny"], sleep=0.2)
        try:
            slow = start_server(work, "slow", port=0)
        except BaseException:
            hand.stop()
            raise
        try:
            health_hand = asyncio.run(
                health_during_slow(hand.url, hand.url.replace(":predict", ""), "instances", 32, seconds)
            )
            health_ours = asyncio.run(
                health_during_slow(slow.v1_url, f"{slow.base_url}/v2/health/ready", "instances", 32, seconds)
            )
        finally:
            hand.stop()
            slow.stop()

    print(report(results, health_hand, health_ours))
    return 0


def report(results: dict[tuple[str, int, str], dict[str, float]], health_hand: float, health_ours: float) -> str:
    lines = [
        "| model | conc. | server | req/s | p50 ms | p99 ms | load generator CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, concurrency, label), stats in results.items():
        client = f"{stats['client_cpu']:.0%}" if "client_cpu" in stats else "-"
        lines.append(
            f"| {name} | {concurrency} | {label} | {stats['rps']:.0f} | {stats['p50']:.2f} | {stats['p99']:.2f} "
            f"| {client} |"
        )
    r = results

    def ratio(name: str, concurrency: int, a: str, b: str) -> float:
        return r[(name, concurrency, a)]["rps"] / r[(name, concurrency, b)]["rps"]

    lines += ["", "| target | measured | goal |", "|---|---|---|"]
    for name in MODELS:
        overhead = r[(name, 1, "ours")]["p50"] - r[(name, 1, "raw call")]["p50"]
        lines.append(f"| {name}: p50 overhead over raw call, c=1 | {overhead:.2f} ms | <= 1.0 ms |")
        for concurrency in (1, 32):
            plain = ratio(name, concurrency, "ours", "kserve.Model")
            lines.append(f"| {name}: ours / kserve.Model throughput, c={concurrency} | {plain:.2f}x | >= 0.95x |")
        goal = "3x" if name == "medium" else "1.5x"
        batched = ratio(name, 32, "ours batched", "kserve.Model")
        lines.append(f"| {name}: batched / kserve.Model throughput, c=32 | {batched:.2f}x | >= {goal} |")
        p99 = (r[(name, 32, "ours batched")]["p99"], r[(name, 32, "kserve.Model")]["p99"])
        lines.append(f"| {name}: batched p99 vs kserve.Model p99, c=32 | {p99[0]:.1f} vs {p99[1]:.1f} ms | no worse |")
        added = r[(name, 1, "ours batched")]["p50"] - r[(name, 1, "ours")]["p50"]
        lines.append(f"| {name}: batching's added p50, c=1 | {added:.2f} ms | <= 0.5 ms |")
    lines.append(f"| health p99 during 200 ms sync predicts: ours | {health_ours:.1f} ms | <= 20 ms |")
    lines.append(
        f"| health p99 during 200 ms sync predicts: kserve.Model | {health_hand:.1f} ms | (the predict time) |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
