"""The production contract for one corpus notebook of each kind the capture layer saves: the exported version,
copied alone into a fresh virtual environment built from its own ``requirements.txt`` (no jupyter-deploy there),
started with ``python predictor.py``, answers what the notebook itself computed (over v1, and v2 where the
input has a tensor form). What an image would do, without an image builder (see test_images.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from corpus_harness import NOTEBOOKS, check_served, export_execute, load_entries
from standalone import fresh_venv, standalone_server

pytestmark = [pytest.mark.corpus, pytest.mark.kernel, pytest.mark.server, pytest.mark.slow]
ENTRIES = {entry["name"]: entry for entry in load_entries()}
# one notebook per kind: a state_dict rebuilt from a notebook class, skops with a DataFrame, XGBoost's UBJ,
# LightGBM's model text, transformers' save_pretrained with generate
KINDS = {
    "torch-state-dict": "torch-char-rnn",
    "sklearn-skops-dataframe": "sklearn-column-transformer",
    "xgboost": "xgboost-sklearn-api",
    "lightgbm": "lightgbm-simple",
    "transformers": "transformers-gpt2-generation",
}


@pytest.mark.parametrize("corpus_name", list(KINDS.values()), ids=list(KINDS))
def test_a_version_of_each_kind_serves_alone_from_its_requirements(corpus_name: str, tmp_path: Path) -> None:
    entry: dict[str, Any] = ENTRIES[corpus_name]
    project = tmp_path / "project"
    result, answers = export_execute(NOTEBOOKS / entry["notebook"], project)
    info, version = result["info"], Path(result["path"])
    requirements = (version / "requirements.txt").read_text().lower()
    assert "jupyter-deploy" not in requirements and "jupyter_deploy" not in requirements

    python = fresh_venv(version, tmp_path / "venv")
    probe = subprocess.run([str(python), "-c", "import jupyter_deploy"], cwd=tmp_path, capture_output=True, timeout=60)
    assert probe.returncode != 0, "jupyter_deploy must not be importable where a version serves"
    with standalone_server(python, version, tmp_path, info["name"]) as url:
        urls = {"v1": f"{url}/v1/models/{info['name']}:predict", "v2": f"{url}/v2/models/{info['name']}/infer"}
        check_served(urls, answers["cases"], entry.get("v2", True))
