"""Shared test set-up: quiet, local, reproducible; area fixtures come in as plugins."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")

# jp_fetch / jp_serverapp for the REST handler tests (it also gives every test an event loop fixture)
pytest_plugins: list[str] = ["pytest_jupyter.jupyter_server"]
for plugin in ("k8s_fixtures", "serve_fixtures", "retrain_fixtures"):
    if (REPO / "tests" / f"{plugin}.py").exists():
        pytest_plugins.append(plugin)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project root, also the working directory."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
