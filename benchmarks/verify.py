"""Version verification, side by side in one run (the machines here are shared: compare ratios, not absolutes).

A real static export of a notebook whose load cell ships one large ``.npy`` (``%%deploy load --artifact``) and
reads it whole at start, as a model reads its weights:

1. Cold start: seconds from ``python predictor.py`` to ready (``/v2/models/NAME/ready``) with the version's own
   verification (names, sizes and code checked at import, the artifacts hashed in a thread that overlaps the
   imports, joined before ``load()``), against the same predictor with the check switched off (started through
   a launcher that replaces ``_jd_runtime.verify.verify``). Alternating, median of ``--runs`` (target: at most
   1.05x). Also: the check alone, in-process, and ``jupyter-deploy serve``'s own pre-check (sizes and code).
2. Export peak memory (``VmHWM`` of the exporting process; the parity and reference runs are other
   processes): hashing in 1 MiB chunks, against the same export hashing each file whole as ``content_hash``
   did before (``read_bytes``), and the content hash alone both ways.

Run: ``python benchmarks/verify.py [--mb 1024] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

CELLS = (
    "import numpy as np",
    "%%deploy load --name big --artifact weights.npy\nW = np.load('weights.npy')",
    "%%deploy example --name big\nexample_input = np.ones((1, 2), dtype=np.float32)",
    "%%deploy predict --name big\ndef predict(x):\n    return np.asarray(x, dtype=np.float32) @ W[:2, :4]",
)

# the baseline: the same predictor, its check replaced by one that finds nothing
UNCHECKED = """
import runpy, sys
sys.path.insert(0, ".")
import _jd_runtime.verify as verify
verify.verify = lambda directory, artifacts=True: None
sys.argv = ["predictor.py", *sys.argv[1:]]
runpy.run_path("predictor.py", run_name="__main__")
"""

# VmHWM: this process's own peak (ru_maxrss would start at the parent's size: Linux keeps it across exec)
PEAK = "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))"

EXPORT = f"""
import sys
from jupyter_deploy.versions.export import export_notebook
if sys.argv[3] == "whole":  # content_hash before: each file read whole
    import hashlib
    from pathlib import Path
    from jupyter_deploy.runtime import verify
    verify.file_sha256 = lambda path: hashlib.sha256(Path(path).read_bytes()).hexdigest()
export_notebook(sys.argv[1], root=sys.argv[2], parity=True)
{PEAK}
"""

HASH = f"""
import sys
from pathlib import Path
if sys.argv[2] == "whole":
    import hashlib
    from jupyter_deploy.runtime import verify
    verify.file_sha256 = lambda path: hashlib.sha256(Path(path).read_bytes()).hexdigest()
from jupyter_deploy.versions import store
store.content_hash(Path(sys.argv[1]))
{PEAK}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_to_ready(command: list[str], cwd: Path, name: str) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--http_port", str(port), "--model_name", name],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}: {process.stderr.read()[-2000:]!r}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{name}/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(30)


def peak_mb(script: str, *arguments: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", script, *arguments], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return int(done.stdout.strip().splitlines()[-1]) / 1024  # kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the shipped artifact (default 1024 MB)")
    parser.add_argument("--runs", type=int, default=3, help="cold starts of each kind (default 3)")
    args = parser.parse_args()

    import numpy as np
    from notebooks import make_notebook

    from jupyter_deploy.runtime import verify
    from jupyter_deploy.versions import store

    with tempfile.TemporaryDirectory(prefix="jd-verify-bench-") as temporary:
        work = Path(temporary)
        rows = args.mb * 1024 * 1024 // (256 * 4)
        np.lib.format.open_memmap(work / "weights.npy", mode="w+", dtype=np.float32, shape=(rows, 256))[:] = 0.5
        make_notebook(work / "big.ipynb", *CELLS)
        size = (work / "weights.npy").stat().st_size

        print(f"artifact: {size / 2**20:.0f} MB (weights.npy, shipped by the load cell and read whole at start)")
        export_peaks = {}
        for style in ("whole", "chunks"):
            root = work / style
            root.mkdir()
            export_peaks[style] = peak_mb(EXPORT, str(work / "big.ipynb"), str(root), style)
        shutil.rmtree(work / "whole")
        version = work / "chunks" / "deployments" / "big" / "v1"
        hash_peaks = {style: peak_mb(HASH, str(version), style) for style in ("whole", "chunks")}

        started, cpu = time.perf_counter(), time.process_time()
        assert verify.verify(version) is None
        alone, alone_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        store.check_intact(version, artifacts=False)
        precheck = time.perf_counter() - started

        time_to_ready([sys.executable, "predictor.py"], version, "big")  # page cache warm for both kinds
        checked, unchecked = [], []
        for _ in range(args.runs):
            unchecked.append(time_to_ready([sys.executable, "-c", UNCHECKED], version, "big"))
            checked.append(time_to_ready([sys.executable, "predictor.py"], version, "big"))
        with_check, without = statistics.median(checked), statistics.median(unchecked)

    print(f"\ncold start, python predictor.py to ready (median of {args.runs}, alternating):")
    print(f"  {'without verification':34} {without:7.2f} s   runs {', '.join(f'{t:.2f}' for t in unchecked)}")
    print(f"  {'with verification':34} {with_check:7.2f} s   runs {', '.join(f'{t:.2f}' for t in checked)}")
    print(f"  {'ratio (target <= 1.05)':34} {with_check / without:7.3f}x  (+{with_check - without:.2f} s)")
    fastest = min(checked) / min(unchecked)
    print(f"  {'ratio of the fastest runs':34} {fastest:7.3f}x  ({min(checked):.2f} s / {min(unchecked):.2f} s)")
    rate = size / 2**20 / alone
    print(f"  {'the check alone, in-process':34} {alone:7.2f} s   ({rate:.0f} MB/s, {alone_cpu:.2f} s of CPU)")
    print(f"  {'serve pre-check (sizes, code)':34} {precheck * 1000:7.1f} ms")
    print("\npeak memory (VmHWM of the process):")
    print(f"  {'':34} {'whole-file reads (before)':>26} {'1 MiB chunks (after)':>22} {'ratio':>8}")
    for label, peaks in (("export (static, parity on)", export_peaks), ("content hash alone", hash_peaks)):
        ratio = peaks["chunks"] / peaks["whole"]
        print(f"  {label:34} {peaks['whole']:23.0f} MB {peaks['chunks']:19.0f} MB {ratio:7.2f}x")
    print(json.dumps({"cold_start": {"with": checked, "without": unchecked}, "export_mb": export_peaks}))


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    main()
