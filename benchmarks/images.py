"""The generated image of a version against a hand-written minimal one, side by side in one run (machines here
are noisy and shared: compare the ratios, not the absolutes).

For each kind (a corpus notebook, or the quickstart, exported with ``--execute``):

1. Size and build time: ``deploy/NAME/Dockerfile`` against a hand-written minimal Dockerfile on the same base
   (the system packages the kind needs, ``pip install kserve==K LIBRARY==L`` at the version's pins, the
   version directory, ``python predictor.py``). Both built cold (``--no-cache``) with buildah from the stand-in
   base of the image tests (tests/images/build-base.sh), pip using the host's package sources. Target: the
   generated image at most 1.1x the minimal one's size.
2. Cold start: seconds from the image's own entry point (``buildah run``, as the image's USER) to ready
   (``/v2/models/NAME/ready``), against ``python predictor.py`` of the same version in a fresh venv built
   from its requirements.txt; alternating, median of 3. Target: at most 1.2x.

Run: ``python benchmarks/images.py [KIND ...]`` (kinds: see KINDS; default lightgbm sklearn). Needs buildah
(``make image-base`` installs it); run as root.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for folder in ("tests", "tests/corpus", "tests/images"):
    sys.path.insert(0, str(REPO / folder))

# kind -> (notebook, the libraries a hand-written Dockerfile would install beside kserve)
KINDS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "lightgbm": (REPO / "tests/corpus/notebooks/lightgbm_simple.ipynb", ("lightgbm",)),
    "sklearn": (REPO / "tests/corpus/notebooks/sklearn_column_transformer.ipynb", ("scikit-learn", "skops")),
    "xgboost": (REPO / "tests/corpus/notebooks/xgboost_sklearn_api.ipynb", ("xgboost",)),
    "torch": (REPO / "examples/quickstart.ipynb", ("torch",)),
    "transformers": (
        REPO / "tests/corpus/notebooks/transformers_gpt2_generation.ipynb",
        ("torch", "transformers"),
    ),
}
RUNS = 3


def minimal_dockerfile(base: str, version_dir: str, pins: list[str], system_packages: list[str]) -> str:
    apt = (
        "RUN apt-get update && apt-get install -y --no-install-recommends "
        + " ".join(system_packages)
        + " && rm -rf /var/lib/apt/lists/*\n"
        if system_packages
        else ""
    )
    return (
        f"FROM {base}\n{apt}"
        "ARG PIP_INDEX_URL=https://pypi.org/simple\nARG PIP_EXTRA_INDEX_URL=\nARG PIP_FIND_LINKS=\n"
        f"RUN pip install --no-cache-dir {' '.join(pins)}\n"
        f"WORKDIR /app\nCOPY {version_dir}/ ./\n"
        'CMD ["python", "predictor.py", "--http_port", "8080"]\n'
    )


def buildah_bud(project: Path, dockerfile: str, tag: str, base: str, log: Path) -> float:
    """A cold build (no layer cache) of ``dockerfile`` from ``project``; returns its seconds."""
    from image_harness import BUILDAH, ENV, failed_step, host_pip_sources

    assert BUILDAH, "buildah is missing: make image-base installs it"
    sources = host_pip_sources()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    command = [
        BUILDAH, "bud", "--isolation=chroot", "--pull=never", "--layers", "--force-rm", "--no-cache",
        f"--file={dockerfile}",
        f"--build-arg=BASE_IMAGE={base}", f"--build-arg=PYTHON_VERSION={python}",
        *sources.build_args(), *sources.mounts(), f"--tag={tag}", ".",
    ]  # fmt: skip
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(command, cwd=project, stdout=out, stderr=subprocess.STDOUT, env=ENV, check=False)
    if done.returncode:
        raise failed_step(log.read_text(encoding="utf-8", errors="replace"))
    return time.perf_counter() - started


def image_start(tag: str, name: str, log: Path) -> float:
    from image_harness import container, image_config, serve
    from standalone import free_port

    config = image_config(tag)
    with container(tag) as working, serve(working, config, free_port(), name, log) as served:
        return served.ready_seconds


def venv_start(python: Path, version_dir: Path, workdir: Path, name: str) -> float:
    from standalone import standalone_server

    started = time.perf_counter()
    with standalone_server(python, version_dir, workdir, name):
        return time.perf_counter() - started


def export(notebook: Path, project: Path) -> dict[str, Any]:
    """``jupyter-deploy export --execute`` of a copy of ``notebook`` in ``project``; the version's info."""
    import json
    import shutil

    project.mkdir(parents=True)
    shutil.copy(notebook, project / notebook.name)
    command = [str(Path(sys.executable).parent / "jupyter-deploy"), "export", notebook.name, "--execute", "--json"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"export of {notebook.name} failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout)["info"])


def measure(kind: str, base: str, work: Path) -> dict[str, Any]:
    from image_harness import BUILDAH, image_size
    from standalone import fresh_venv

    from jupyter_deploy.cluster.manifests import write_manifests
    from jupyter_deploy.cluster.rendering import SYSTEM_PACKAGES, pinned_version

    notebook, libraries = KINDS[kind]
    project = work / kind
    info = export(notebook, project)
    name, version = info["name"], info["version"]
    write_manifests(project, name)
    version_dir = f"deployments/{name}/{version}"
    pins = [f"{lib}=={pinned_version(info['requirements'], lib)}" for lib in ("kserve", *libraries)]
    system = sorted({package for lib in libraries for package in SYSTEM_PACKAGES.get(lib, ())})
    (project / "Dockerfile.minimal").write_text(minimal_dockerfile(base, version_dir, pins, system))

    generated_tag, minimal_tag = f"localhost/jd-bench/{name}:generated", f"localhost/jd-bench/{name}:minimal"
    figures: dict[str, Any] = {"kind": kind}
    try:
        figures["build_generated"] = buildah_bud(
            project, f"deploy/{name}/Dockerfile", generated_tag, base, project / "build-generated.log"
        )
        figures["build_minimal"] = buildah_bud(
            project, "Dockerfile.minimal", minimal_tag, base, project / "build-minimal.log"
        )
        figures["size_generated"], figures["size_minimal"] = image_size(generated_tag), image_size(minimal_tag)
        python = fresh_venv(project / version_dir, project / "venv")
        image_times, venv_times = [], []
        for run in range(RUNS):
            image_times.append(image_start(generated_tag, name, project / f"image-{run}.log"))
            venv_times.append(venv_start(python, project / version_dir, project / f"venv-run-{run}", name))
        figures["start_image"] = statistics.median(image_times)
        figures["start_venv"] = statistics.median(venv_times)
    finally:
        subprocess.run([BUILDAH, "rmi", generated_tag, minimal_tag], capture_output=True, check=False)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kinds", nargs="*", default=["lightgbm", "sklearn"], choices=sorted(KINDS))
    args = parser.parse_args()
    from image_harness import base_image

    base = base_image()
    rows = []
    with tempfile.TemporaryDirectory(prefix="jd-bench-images-") as scratch:
        for kind in args.kinds:
            rows.append(measure(kind, base, Path(scratch)))
    mb = 1e6
    print(f"{'kind':<14}{'size MB gen/min':>22}{'ratio':>7}{'build s gen/min':>20}{'ratio':>7}"
          f"{'start s image/venv':>22}{'ratio':>7}")  # fmt: skip
    for row in rows:
        print(
            f"{row['kind']:<14}"
            f"{row['size_generated'] / mb:>11.0f} /{row['size_minimal'] / mb:>8.0f}"
            f"{row['size_generated'] / row['size_minimal']:>7.2f}"
            f"{row['build_generated']:>10.0f} /{row['build_minimal']:>7.0f}"
            f"{row['build_generated'] / row['build_minimal']:>7.2f}"
            f"{row['start_image']:>11.1f} /{row['start_venv']:>8.1f}"
            f"{row['start_image'] / row['start_venv']:>7.2f}"
        )
    print("targets: size <= 1.10x the hand-written minimal image; cold start <= 1.20x the same version in a venv")


if __name__ == "__main__":
    main()
