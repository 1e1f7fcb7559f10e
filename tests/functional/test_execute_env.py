"""``export --execute`` from a long-lived process (the server extension) leaves that process's environment alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from notebooks import make_notebook

from jupyter_deploy.versions.execute import execute_and_export

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def test_the_runner_variables_reach_the_kernel_only(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JD_PROJECT_ROOT", raising=False)
    monkeypatch.delenv("JD_NOTEBOOK_PATH", raising=False)
    notebook = make_notebook(
        project / "env.ipynb",
        "import numpy as np",
        "%%deploy example\nexample_input = np.ones((2, 2))",
        "%%deploy predict\ndef predict(x):\n    return np.asarray(x) + 1",
    )
    before = dict(os.environ)
    result = execute_and_export(notebook, root=project)
    assert result.created and result.info.notebook == "env.ipynb"
    assert result.info.parity is not None and result.info.parity.status == "passed"
    assert dict(os.environ) == before
