"""A version on its own, side by side in one run (machines here are noisy: compare ratios, not absolutes).

1. Image size proxy: distributions (count and size on disk) that the quickstart version's
   ``requirements.txt`` installs into a fresh venv, against ``kserve`` + ``torch`` alone at the same
   versions (target: at most 1.1x in count).
2. Cold start: seconds from ``python predictor.py`` to ready (``/v2/models/NAME/ready``), against a
   hand-written ``kserve.Model`` loading the same ``torch.export`` weights and started by KServe's own
   ``ModelServer`` (target: at most 1.2x). Both in the same fresh venv, alternating, median of 5.

Run: ``python benchmarks/standalone.py``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

HAND_WRITTEN = """
import sys
import kserve
import torch


class Quickstart(kserve.Model):
    def load(self):
        self.model = torch.export.load("artifacts/model.pt2").module()
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        with torch.inference_mode():
            rows = torch.tensor(payload["instances"], dtype=torch.float32)
            return {"predictions": self.model(rows).softmax(-1).tolist()}


if __name__ == "__main__":
    model = Quickstart(sys.argv[2])
    model.load()
    kserve.ModelServer(http_port=int(sys.argv[1]), grpc_port=int(sys.argv[3])).start([model])
"""


def venv(where: Path, requirements: list[str], cwd: Path) -> tuple[Path, int, int]:
    """A fresh venv with ``requirements``; returns its python, the number of distributions and their bytes."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements], cwd=cwd, check=True
    )
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    count = len([d for d in json.loads(listed) if d["name"].lower() not in ("pip", "setuptools")])
    site = next(where.glob("lib/python*/site-packages"))
    size = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
    return python, count, size


def time_to_ready(command: list[str], cwd: Path, port: int, name: str) -> float:
    import urllib.request

    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{name}/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    from standalone import free_port

    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        shutil.copy(REPO / "examples" / "quickstart.ipynb", work / "quickstart.ipynb")
        cli = Path(sys.executable).parent / "jupyter-deploy"
        exported = subprocess.run(
            [str(cli), "export", "quickstart.ipynb", "--execute", "--json"], cwd=work, capture_output=True, check=True
        )
        version = Path(json.loads(exported.stdout)["path"])
        lines = (version / "requirements.txt").read_text().split()
        ours_python, ours_count, ours_size = venv(work / "ours", ["-r", "requirements.txt"], version)
        pins = {line.split("==")[0].lower(): line for line in lines}
        _, base_count, base_size = venv(work / "base", [pins["kserve"], pins["torch"]], version)
        print("image size proxy (fresh venv)         distributions   size on disk")
        print(f"  version requirements.txt            {ours_count:>13}   {ours_size / 1e6:>9.0f} MB")
        print(f"  kserve + torch alone                {base_count:>13}   {base_size / 1e6:>9.0f} MB")
        print(
            f"  ratio                               {ours_count / base_count:>12.2f}x   {ours_size / base_size:>9.2f}x"
        )

        (version / "hand_written.py").write_text(HAND_WRITTEN)
        ours_times, hand_times = [], []
        for _ in range(5):
            port = free_port()
            ours_times.append(
                time_to_ready(
                    [str(ours_python), "predictor.py", "--http_port", str(port), "--model_name", "quickstart"],
                    version,
                    port,
                    "quickstart",
                )
            )
            port = free_port()
            hand_times.append(
                time_to_ready(
                    [str(ours_python), "hand_written.py", str(port), "quickstart", str(free_port())],
                    version,
                    port,
                    "quickstart",
                )
            )
        ours, hand = statistics.median(ours_times), statistics.median(hand_times)
        print("cold start to ready (median of 5)")
        print(f"  python predictor.py                 {ours:>8.2f} s")
        print(f"  hand-written kserve.Model           {hand:>8.2f} s")
        print(f"  ratio                               {ours / hand:>8.2f}x  (target <= 1.2x)")


if __name__ == "__main__":
    main()
