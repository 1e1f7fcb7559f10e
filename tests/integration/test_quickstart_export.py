"""The README's notebook, exported the way users do it: a fresh kernel runs it, the model is captured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
BIN = Path(sys.executable).parent


def test_execute_export_captures_the_trained_model_and_passes_parity(project: Path, repo_root: Path) -> None:
    shutil.copy(repo_root / "examples" / "quickstart.ipynb", project / "quickstart.ipynb")
    result = subprocess.run(
        [str(BIN / "jupyter-deploy"), "export", "quickstart.ipynb", "--execute", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    exported = json.loads(result.stdout)
    info = exported["info"]
    # the notebook's own %deploy export cell leaves the export to the runner: one export, reported as created
    assert exported["created"] is True
    assert info["version"] == "v1" and info["notebook"] == "quickstart.ipynb"
    assert info["parity"]["status"] == "passed" and info["parity"]["max_abs_diff"] < 1e-5
    assert info["artifacts"] == {"model": "model.pt2"}
    assert info["input_spec"] == {"kind": "torch", "dtype": "float32", "shape": [-1, 8]}
    assert any(line.startswith("torch==2.") for line in info["requirements"])

    version = project / "deployments" / "quickstart" / "v1"
    predictor = (version / "predictor.py").read_text()
    # training code stays in the notebook; the model comes back from the torch.export artifact
    assert "optimizer" not in predictor and "cross_entropy" not in predictor
    assert "def predict(x: torch.Tensor) -> torch.Tensor:" in predictor
    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--isolated", str(version / "predictor.py")],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout

    # the exported program keeps the batch dimension dynamic: other batch sizes work in a fresh process
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, torch; m = runpy.run_path('predictor.py')['QuickstartPredictor'](); m.load();"
            "print(m.infer(torch.randn(7, 8)).shape)",
        ],
        cwd=version,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.stdout.strip().endswith("torch.Size([7, 4])"), check.stderr[-2000:]
