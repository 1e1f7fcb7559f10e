"""The parity check: import a new predictor in a fresh process and compare its output with the notebook's.

The reference is ``artifacts/example_output.*``: what the notebook computed in the kernel (a live export), or,
for a saved notebook exported without a kernel, its own code re-run in a fresh process (``reference.py``; no
independent reference, so export reports that parity as skipped).
Run as ``python -m jupyter_deploy.versions.parity VERSION_DIR``; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..records import Parity
from ..runtime.compare import compare
from .json_line import ChildFailed, child_env, child_result

# top-level import -> what the parity process imports early for it (seconds each on a small machine)
HEAVY_MODULES = {
    "torch": ("torch",),
    "sklearn": ("sklearn", "skops.io"),
    "pandas": ("pandas",),
    "transformers": ("transformers",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
}
_warm: subprocess.Popen[str] | None = None


def prewarm(modules: list[str]) -> None:
    """Start the next check's process now: it imports kserve and the heavy ``modules`` while the notebook
    runs, then waits for the version directory. It is still a fresh process that never sees the kernel."""
    global _warm
    if _warm is not None and _warm.poll() is None:
        return
    imports = [name for module in modules for name in HEAVY_MODULES.get(module, ())]
    _warm = subprocess.Popen(
        [sys.executable, "-m", "jupyter_deploy.versions.parity", "--wait", *imports],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tempfile.gettempdir(),
        env=child_env(),
    )


def _take_warm() -> subprocess.Popen[str] | None:
    global _warm
    process, _warm = _warm, None
    return process if process is not None and process.poll() is None else None


def run_parity(version_dir: Path, timeout: float = 300) -> Parity:
    """Run the check in a subprocess; a crash there is a failed check whose detail is the error."""
    version_dir = Path(version_dir).resolve()
    start = time.perf_counter()
    process = _take_warm()
    if process is None:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_deploy.versions.parity", str(version_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=version_dir,
            env=child_env(),
        )
        given = None
    else:
        given = f"{version_dir}\n"
    try:
        stdout, stderr = process.communicate(input=given, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return Parity(status="failed", detail=f"the predictor did not answer within {timeout:.0f} s")
    elapsed = round(time.perf_counter() - start, 3)
    try:
        result = Parity.model_validate(child_result(process.returncode, stdout, stderr))
    except ChildFailed as failed:
        tail = "\n".join(failed.tail[-6:])
        return Parity(status="failed", detail=f"the predictor failed in a fresh process:\n{tail}")
    result.seconds = elapsed
    return result


def _wait_for_version(imports: list[str]) -> str | None:
    """``--wait``: import what the check will need, then read the version directory from stdin."""
    import importlib

    for name in ["kserve", "numpy", *imports]:
        try:
            importlib.import_module(name)
        except Exception:  # whatever fails here fails again, with its message, in the check itself
            continue
    line = sys.stdin.readline().strip()
    if not line:
        return None  # the kernel went away without a version to check
    os.chdir(line)
    sys.path[0] = line  # as `python -m` from the version directory would have it
    return line


def _main(version_dir: str) -> int:
    from ..runtime.artifacts import load_artifact
    from .predictor_class import load_predictor_class

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
    if sys.argv[1] == "--wait":
        directory = _wait_for_version(sys.argv[2:])
        sys.exit(_main(directory) if directory else 0)
    sys.exit(_main(sys.argv[1]))
