"""Export-time check that a predictor can be served with adaptive batching (``--max-batch-size``).

Batching stacks concurrent requests along dim 0 and cuts the output back into one piece per request, so
``predict`` must take a tensor or array, return one output row per input row, and treat rows
independently. This runs the new module in a fresh process (like the parity check) on ``example_input``:
alone, one row at a time, and stacked with its own first row, and compares the results.
Run as ``python -m jupyter_deploy.versions.batchcheck VERSION_DIR``; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..exceptions import OptionsError
from ..runtime.batchcheck import problem


def batching_requested(options: dict[str, Any]) -> bool:
    size = options.get("max_batch_size")
    return isinstance(size, int) and size > 1


def check_batching(version_dir: Path, options: dict[str, Any], timeout: float = 300) -> None:
    """Raise ``OptionsError`` naming the problem when ``options`` ask for batching that cannot work."""
    if not batching_requested(options):
        return
    version_dir = Path(version_dir).resolve()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "jupyter_deploy.versions.batchcheck", str(version_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=version_dir,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OptionsError(f"the batching check did not finish within {timeout:.0f} s", "max_batch_size") from None
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = " | ".join((completed.stderr or completed.stdout).strip().splitlines()[-3:])
        raise OptionsError(f"the batching check failed to run the predictor: {tail}", "max_batch_size")
    result = json.loads(lines[-1])
    if not result["ok"]:
        raise OptionsError(
            f"--max-batch-size {options['max_batch_size']}: this predictor cannot batch: {result['detail']}; "
            "make predict return one output row per input row, or drop --max-batch-size",
            "max_batch_size",
        )


def load_predictor_class(version_dir: Path) -> Any:
    """The ``NotebookModel`` subclass defined by ``version_dir/predictor.py`` (imported as ``_jd_predictor``)."""
    import importlib.util

    # the version's own runtime (``_jd_runtime/``) is imported from beside predictor.py, as when it serves
    sys.path.insert(0, str(Path(version_dir).resolve()))
    spec = importlib.util.spec_from_file_location("_jd_predictor", Path(version_dir) / "predictor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["_jd_predictor"] = module
    spec.loader.exec_module(module)
    return next(
        value
        for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == "_jd_predictor" and hasattr(value, "load_state")
    )


def _main(version_dir: str) -> int:
    model = load_predictor_class(Path(version_dir))()
    model.load()
    reason = problem(model)
    print(json.dumps({"ok": reason is None, "detail": reason or ""}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
