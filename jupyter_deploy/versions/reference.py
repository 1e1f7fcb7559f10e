"""A saved notebook's example, computed without a kernel: the closure's own code run as a script in a fresh
process, its ``example_input`` and result saved as ``artifacts/example_input.*`` / ``example_output.*``.

A static export then writes the same files a live export of the same cells writes (same hash, same version),
and the module it renders is checked against them. That check is no independent parity (the reference is the
same code), so a static export reports parity as skipped: only a live export compares with what the notebook
computed in its kernel.
Run as ``python -m jupyter_deploy.versions.reference SCRIPT ARTIFACTS_DIR``; prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..capture.base import Saved
from ..exceptions import ClosureError
from ..notebook.closure import Closure
from ..records import Deployment
from .json_line import ChildFailed, run_json_module
from .pipeline import run_steps

MARKER = "__jupyter_deploy_reference__"


def example_script(deployment: Deployment, closure: Closure) -> str:
    """The closure's statements in notebook order, then the pipeline as a function ``_jd_pipeline``."""
    from .predictor import pipeline_expression

    statements = sorted(closure.definitions + closure.load + closure.example, key=lambda s: s.position)
    body = "\n\n".join(statement.text for statement in statements)
    return f"{body}\n\n\ndef _jd_pipeline(inputs):\n    return {pipeline_expression(deployment)}\n"


def run_reference(script_text: str, artifacts: Path, cwd: Path, timeout: float = 300) -> tuple[Saved, dict[str, Any]]:
    """Run the notebook's code on ``example_input`` in a subprocess; returns (the example's Saved, its spec)."""
    artifacts.mkdir(parents=True, exist_ok=True)
    script = artifacts.parent / "_jd_reference_script.py"
    script.write_text(script_text, encoding="utf-8")
    try:
        data = run_json_module(
            "jupyter_deploy.versions.reference", [str(script), str(artifacts)], cwd, timeout, marker=MARKER
        )
    except subprocess.TimeoutExpired:
        raise ClosureError(f"the notebook's example did not finish within {timeout:.0f} s") from None
    except ChildFailed as failed:
        raise ClosureError(f"running the notebook's code on example_input failed: {failed.tail[-1]}") from None
    finally:
        script.unlink(missing_ok=True)
    saved = data["example"]
    example = Saved(saved["filename"], saved["arguments"], frozenset(saved["modules"]), frozenset(saved["needs"]))
    return example, data["spec"]


def _main(script: str, artifacts: str) -> int:
    from ..capture import CaptureContext, capture
    from ..runtime.spec import spec_of

    namespace: dict[str, Any] = {"__name__": "_jd_reference"}
    code = compile(Path(script).read_text(encoding="utf-8"), "notebook", "exec")
    exec(code, namespace)  # the definitions and the example; the pipeline call is last and runs below
    run = namespace.pop("_jd_pipeline")
    example = namespace["example_input"]
    output = run_steps([run], example)  # as export runs it in a kernel
    context = CaptureContext(directory=Path(artifacts), namespace=namespace)
    saved = capture("example_input", example, context)
    capture("example_output", output, context)
    record = {**asdict(saved), "modules": sorted(saved.modules), "needs": sorted(saved.needs)}
    print(MARKER + json.dumps({"example": record, "spec": spec_of(example)}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:3]))
