"""Export-time check that a predictor can be served with adaptive batching (``--max-batch-size``).

Batching stacks concurrent requests along dim 0 and cuts the output back into one piece per request, so
``predict`` must take a tensor or array, return one output row per input row, and treat rows
independently. This runs the new module in a fresh process (like the parity check) on ``example_input``:
alone, one row at a time, and stacked with its own first row, and compares the results.
Run as ``python -m jupyter_deploy.versions.batchcheck VERSION_DIR``; prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..exceptions import OptionsError
from ..runtime.batchcheck import problem
from .json_line import ChildFailed, run_json_module
from .predictor_class import load_predictor_class


def batching_requested(options: dict[str, Any]) -> bool:
    size = options.get("max_batch_size")
    return isinstance(size, int) and size > 1


def check_batching(version_dir: Path, options: dict[str, Any], timeout: float = 300) -> None:
    """Raise ``OptionsError`` naming the problem when ``options`` ask for batching that cannot work."""
    if not batching_requested(options):
        return
    version_dir = Path(version_dir).resolve()
    try:
        result = run_json_module("jupyter_deploy.versions.batchcheck", [str(version_dir)], version_dir, timeout)
    except subprocess.TimeoutExpired:
        raise OptionsError(f"the batching check did not finish within {timeout:.0f} s", "max_batch_size") from None
    except ChildFailed as failed:
        tail = " | ".join(failed.tail[-3:])
        raise OptionsError(f"the batching check failed to run the predictor: {tail}", "max_batch_size") from None
    if not result["ok"]:
        raise OptionsError(
            f"--max-batch-size {options['max_batch_size']}: this predictor cannot batch: {result['detail']}; "
            "make predict return one output row per input row, or drop --max-batch-size",
            "max_batch_size",
        )


def _main(version_dir: str) -> int:
    model = load_predictor_class(Path(version_dir))()
    model.load()
    reason = problem(model)
    print(json.dumps({"ok": reason is None, "detail": reason or ""}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
