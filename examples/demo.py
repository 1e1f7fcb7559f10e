"""The README's main job, end to end on one machine, using the same commands a user types.

1. export examples/quickstart.ipynb (run in a fresh jupyter-deploy kernel, model captured),
2. serve that version locally on KServe's model server (127.0.0.1),
3. answer one request (KServe's own REST client, v2 protocol),
4. write the KServe manifests for it.

Everything lands in .jd-demo/ (deployments/ and deploy/), which is what a project would commit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / ".jd-demo"
CLI = str(Path(sys.executable).parent / "jupyter-deploy")


def step(title: str, *args: str) -> subprocess.CompletedProcess[str]:
    print(f"\n== {title}\n$ jupyter-deploy {' '.join(args)}", flush=True)
    result = subprocess.run([CLI, *args], cwd=REPO, text=True, capture_output=True)
    if "--json" not in args:
        print(result.stdout.rstrip())
    if result.returncode != 0:
        print(result.stderr.rstrip(), file=sys.stderr)
        raise SystemExit(result.returncode)
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the model server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the model server was not ready at {url} within {timeout:.0f} s")


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    shutil.copy(REPO / "examples" / "quickstart.ipynb", ROOT / "quickstart.ipynb")
    export = step("export", "export", ".jd-demo/quickstart.ipynb", "--execute", "--root", ".jd-demo", "--json")
    info = json.loads(export.stdout)["info"]
    print(f"-> {info['name']} {info['version']}, parity {info['parity']['status'] if info['parity'] else '-'}")

    port = free_port()
    print(f"\n== serve\n$ jupyter-deploy serve quickstart --root .jd-demo --port {port}", flush=True)
    log = (ROOT / "serve.log").open("w")
    server = subprocess.Popen(
        [CLI, "serve", "quickstart", "--root", ".jd-demo", "--port", str(port)],
        cwd=REPO,
        stderr=log,  # the model server's own log; the URL and the example request go to stdout
        start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/models/quickstart/ready", server)
        print("\n== request (KServe InferenceRESTClient, v2)")
        answer = request(port, info)
        for row, (label, probabilities) in enumerate(zip(answer["classes"], answer["probabilities"], strict=True)):
            print(f"  row {row}: class {label}  (probabilities {probabilities})")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    step("manifests", "manifests", "quickstart", "--root", ".jd-demo")
    step("validate", "validate", ".jd-demo/deploy/quickstart")
    print(f"\nDone: {info['name']} {info['version']} exported, served, answered, and described in .jd-demo/deploy/.")


def request(port: int, info: dict) -> dict:
    import asyncio

    import numpy as np
    from kserve import InferenceRESTClient, InferInput, InferRequest
    from kserve.inference_client import RESTConfig
    from safetensors.numpy import load_file

    version_dir = ROOT / "deployments" / info["name"] / info["version"]
    rows = load_file(str(version_dir / "artifacts" / "example_input.safetensors"))["tensor"]

    async def call() -> dict:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
        try:
            tensor = InferInput(name="input-0", shape=list(rows.shape), datatype="FP32")
            tensor.set_data_from_numpy(rows.astype(np.float32), binary_data=False)
            request = InferRequest(model_name=info["name"], infer_inputs=[tensor], request_id="demo")
            response = await client.infer(f"http://127.0.0.1:{port}", request, model_name=info["name"])
        finally:
            await client.close()
        probabilities = response.outputs[0].as_numpy()
        return {
            "input_rows": rows.round(3).tolist(),
            "probabilities": probabilities.round(4).tolist(),
            "classes": probabilities.argmax(-1).tolist(),
        }

    return asyncio.run(call())


if __name__ == "__main__":
    main()
