"""The parity check: import a new predictor in a fresh process and compare its output with the notebook's.

The reference is ``artifacts/example_output.*``: what the notebook computed in the kernel (a live export), or,
for a saved notebook exported without a kernel, its own code re-run in a fresh process (``reference.py``; no
independent reference, so export reports that parity as skipped).
Run as ``python -m jupyter_deploy.parity VERSION_DIR``; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .models import Parity
from .runtime.compare import compare


def run_parity(version_dir: Path, timeout: float = 300) -> Parity:
    """Run the check in a subprocess; a crash there is a failed check whose detail is the error."""
    version_dir = Path(version_dir).resolve()
    command = [sys.executable, "-m", "jupyter_deploy.parity", str(version_dir)]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=version_dir, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return Parity(status="failed", detail=f"the predictor did not answer within {timeout:.0f} s")
    elapsed = round(time.perf_counter() - start, 3)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-6:]
        return Parity(status="failed", detail="the predictor failed in a fresh process:\n" + "\n".join(tail))
    result = Parity.model_validate_json(lines[-1])
    result.seconds = elapsed
    return result


def _main(version_dir: str) -> int:
    from .batchcheck import load_predictor_class
    from .runtime.artifacts import load_artifact

    directory = Path(version_dir)
    model = load_predictor_class(directory)()
    model.load()
    actual = model.infer(model.to_device(model.load_example_input()))
    outputs = sorted((directory / "artifacts").glob("example_output.*"))
    if not outputs:
        print(json.dumps({"status": "skipped", "detail": "no reference output"}))
        return 0
    expected = load_artifact(outputs[0])
    ok, diff, detail = compare(actual, expected)
    print(json.dumps({"status": "passed" if ok else "failed", "max_abs_diff": diff, "detail": detail}))
    return 0


if __name__ == "__main__":
    # kubernetes (which ``import kserve`` pulls in) imports kubernetes-validate when it is installed, as it
    # is beside this tool: 1-2 s of JSON-schema set-up a serving image never has. Block it here.
    sys.modules.setdefault("kubernetes_validate", None)  # type: ignore[arg-type]
    sys.exit(_main(sys.argv[1]))
