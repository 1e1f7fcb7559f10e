"""Building small notebooks for tests: cells as strings, tags and kernel metadata as needed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PYTHON = {"name": "python3", "language": "python", "display_name": "Python 3"}


def make_notebook(path: Path, *cells: str | tuple[str, list[str]], kernelspec: dict[str, Any] | None = None) -> Path:
    """Write a notebook whose code cells are ``cells`` (a string, or (source, tags)); '#md ' makes markdown."""
    notebook = new_notebook(metadata={"kernelspec": kernelspec or PYTHON})
    for index, cell in enumerate(cells):
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        if source.startswith("#md "):
            node = new_markdown_cell(source[4:])
        else:
            node = new_code_cell(source, metadata={"tags": tags} if tags else {})
        node["id"] = f"c{index}"
        notebook.cells.append(node)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


STATIC_CELLS = (
    "import numpy as np\nimport json\n%matplotlib inline\n!pip list",
    "SCALE = 2.0\nOFFSET = SCALE * 3\n\n\ndef helper(x):\n    return x * SCALE + OFFSET\n\n\nprint('scratch')",
    "data = np.random.rand(100)\nnoise = data.std()",
    "%%deploy example --name lin\nexample_input = np.array([[1.0, 2.0], [3.0, 4.0]])",
    "%%deploy predict --name lin\ndef predict(x):\n    return helper(np.asarray(x))\n\n\npredict(example_input)",
)


CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]


def export(
    project: Path, *cells: str, options: tuple[str, ...] = (), timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``jupyter-deploy export m.ipynb --execute --json`` on a notebook made of ``cells`` (a real kernel)."""
    make_notebook(project / "m.ipynb", *cells)
    return run_export(project, *options, timeout=timeout)


def run_export(project: Path, *options: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``jupyter-deploy export m.ipynb --execute --json`` on the project's ``m.ipynb`` as it is."""
    return subprocess.run(
        [*CLI, "export", "m.ipynb", "--execute", "--json", *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def exported_again(project: Path, *options: str) -> dict[str, Any]:
    """``run_export`` that must succeed; its JSON answer."""
    done = run_export(project, *options)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def exported(project: Path, *cells: str, options: tuple[str, ...] = ()) -> dict[str, Any]:
    """The new version's info, after asserting the export succeeded and its parity check passed."""
    done = export(project, *cells, options=options)
    assert done.returncode == 0, done.stdout + done.stderr
    info: dict[str, Any] = json.loads(done.stdout)["info"]
    assert info["parity"]["status"] == "passed", info["parity"]
    return info


def expected(project: Path) -> Any:
    """What the notebook itself wrote to expected.json: the independent oracle."""
    return json.loads((project / "expected.json").read_text())


def version(project: Path) -> Path:
    return project / "deployments" / "m" / "v1"


def simulated_device_cell(device: str) -> str:
    """A cell run first in the kernel: torch reports ``device`` (``cuda`` or ``mps``) available, as on the machine a
    notebook was trained on, while tensors and modules sent there (``.to(...)``) stay on this CPU (no GPU here), so
    the notebook's own code runs unchanged and computes its answers on the CPU."""
    check = {"cuda": "torch.cuda.is_available", "mps": "torch.backends.mps.is_available"}[device]
    return f"""# test harness (not part of the notebook): the kernel reports {device!r} available
import torch as _corpus_torch

_corpus_torch.{check.removeprefix("torch.")} = lambda: True


def _corpus_here(value):
    kind = value.type if isinstance(value, _corpus_torch.device) else value
    return "cpu" if isinstance(kind, str) and kind.split(":")[0] == {device!r} else value


def _corpus_moving(method):
    def to(self, *args, **kwargs):
        args = tuple(_corpus_here(arg) for arg in args)
        if "device" in kwargs:
            kwargs["device"] = _corpus_here(kwargs["device"])
        return method(self, *args, **kwargs)

    return to


_corpus_torch.Tensor.to = _corpus_moving(_corpus_torch.Tensor.to)
_corpus_torch.nn.Module.to = _corpus_moving(_corpus_torch.nn.Module.to)
"""


def reseal(version: Path) -> None:
    """Make ``version.json`` describe the files as they are now (its per-file records, when it has them, and
    its content hash), as an attacker who changes an artifact in a repository changes version.json too."""
    info = json.loads((version / "version.json").read_text(encoding="utf-8"))
    files = sorted(
        (path.relative_to(version).as_posix() for path in version.rglob("*") if path.is_file()),
        key=lambda relative: relative.split("/"),
    )
    files = [relative for relative in files if relative != "version.json" and "__pycache__" not in relative]
    digests = {relative: hashlib.sha256((version / relative).read_bytes()) for relative in files}
    if "checksums" in info:
        info["checksums"] = {
            relative: {"size": (version / relative).stat().st_size, "sha256": digests[relative].hexdigest()}
            for relative in files
        }
    whole = hashlib.sha256()
    for relative in files:
        whole.update(relative.encode() + b"\0" + digests[relative].digest())
    info["content_hash"] = whole.hexdigest()
    (version / "version.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
