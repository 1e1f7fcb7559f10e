"""``retrain --canary``: a promoted run goes out as a canary beside the deployed version, then ``--promote``.

Real papermill runs in the real kernel (as tests/integration/test_retrain.py), Knative mode from deploy.yaml
(in Standard mode KServe runs a canary only for stock runtimes, see test_manifest_canary.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.validate import validate_path
from jupyter_deploy.versions import store as versions

pytestmark = [pytest.mark.kernel, pytest.mark.mlflow, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parent.parent / "data" / "retrain" / "tiny.ipynb"


def isvc(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/tiny/base/inferenceservice.yaml").read_text())


def test_retrain_canary_then_promote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "tiny.ipynb")
    (root / "deploy.yaml").write_text("defaults:\n  mode: Knative\n")
    run = ["retrain", str(root / "tiny.ipynb"), "--root", str(root), "--json"]

    assert main([*run, "-p", "scale", "2", "--canary", "20"]) == 1  # nothing deployed to split against
    assert "serves none yet" in capsys.readouterr().err
    assert versions.current_version(root, "tiny") is None  # refused before the notebook ran

    assert main([*run, "-p", "scale", "2"]) == 0
    capsys.readouterr()
    assert main(["manifests", "tiny", "--root", str(root)]) == 0
    capsys.readouterr()
    assert main([*run, "-p", "scale", "3", "--promote-if", "score >= 0.5", "--canary", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "promoted" and result["version"] == "v2"
    document = isvc(root)
    predictor = document["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 20 and predictor["containers"][0]["image"] == "tiny:v2"
    assert document["metadata"]["annotations"]["jupyter-deploy/stable-version"] == "v1"
    assert validate_path(root / "deploy") == []

    assert main(["manifests", "tiny", "--promote", "--root", str(root)]) == 0
    predictor = isvc(root)["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor and predictor["containers"][0]["image"] == "tiny:v2"
    assert versions.current_version(root, "tiny") == "v2"
