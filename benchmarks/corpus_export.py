"""What ``export --execute`` adds to running a notebook, over the acceptance corpus (tests/corpus/).

For each corpus notebook: the time to run the notebook itself (nbclient, in the same kernel export uses, a fresh
one each time) against the time of ``jupyter-deploy export --execute NOTEBOOK --json`` in a fresh project (which
runs the notebook, captures, writes the version and checks parity in a fresh process). Printed: both times and
the added time as a share of the notebook's own run (target: at most 1.0x).

    .venv/bin/python benchmarks/corpus_export.py [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "corpus"))

from corpus_harness import NOTEBOOKS, load_entries  # noqa: E402

BIN = Path(sys.executable).parent


def run_notebook(notebook: Path, workdir: Path) -> float:
    """Seconds to run the notebook top to bottom in a fresh kernel of the kind export uses."""
    import nbformat
    from nbclient import NotebookClient

    from jupyter_deploy.versions.execute import KERNEL_NAME, kernel_name

    node = nbformat.read(notebook, as_version=4)
    kernel = kernel_name()
    if kernel != KERNEL_NAME:  # export loads the extension the same way in a plain kernel
        node.cells.insert(0, nbformat.v4.new_code_cell("%load_ext jupyter_deploy"))
    started = time.perf_counter()
    NotebookClient(node, timeout=600, kernel_name=kernel, resources={"metadata": {"path": str(workdir)}}).execute()
    return time.perf_counter() - started


def run_export(notebook: Path, workdir: Path) -> tuple[float, str | None]:
    """Seconds for ``jupyter-deploy export --execute --json`` and its error line (None when it succeeded)."""
    shutil.copy(notebook, workdir / notebook.name)
    command = [str(BIN / "jupyter-deploy"), "export", notebook.name, "--execute", "--json", "--root", "."]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    elapsed = time.perf_counter() - started
    if result.returncode == 0:
        return elapsed, None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return elapsed, (lines[0] if lines else f"exit code {result.returncode}")[:100]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="corpus entries to measure (default: all)")
    args = parser.parse_args()
    entries = [entry for entry in load_entries() if not args.names or entry["name"] in args.names]
    print(f"{'notebook':34} {'run s':>7} {'export s':>9} {'added':>7}  note")
    ratios = []
    for entry in entries:
        notebook = NOTEBOOKS / entry["notebook"]
        with tempfile.TemporaryDirectory(prefix="jd-corpus-run-") as run_dir:
            own = run_notebook(notebook, Path(run_dir))
        with tempfile.TemporaryDirectory(prefix="jd-corpus-export-") as export_dir:
            exported, error = run_export(notebook, Path(export_dir))
        added = (exported - own) / own
        if error is None:
            ratios.append(added)
        note = "" if error is None else f"export failed: {error}"
        print(f"{entry['name']:34} {own:7.1f} {exported:9.1f} {added:6.2f}x  {note}", flush=True)
    if ratios:
        ratios.sort()
        median = ratios[len(ratios) // 2]
        print(
            f"exported {len(ratios)}/{len(entries)}: added time / notebook run: median {median:.2f}x, "
            f"max {ratios[-1]:.2f}x (target <= 1.0x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
