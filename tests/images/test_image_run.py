"""The generated image of each kind of version, built and run for real: the quickstart and one corpus notebook
per kind, exported with ``--execute``, ``deploy/NAME/Dockerfile`` built with buildah, the image's own entry point
started as the image's USER on the host's loopback, answering v1 and v2 as the notebook computed.

What runs here differs from a cluster in the base and the runner only:

- The base is a stand-in for ``python:3.11-slim`` made from Debian's packages (``build-base.sh``; no
  registry is reachable): Debian bookworm's own Python 3.11 (3.11.2, in /usr, where the official image
  builds a newer 3.11 into /usr/local), Debian's pip 23.0 with python3-venv and python-is-python3, and the
  host's CA bundle in place of Debian's. Like the slim image it is a minimal Debian without compilers or
  OpenMP, with no PEP 668 marker and empty apt lists; it is smaller (about 200 MB).
- buildah with chroot isolation builds and runs it; the entry point shares the host's network (no network
  namespace), so it listens on a free loopback port instead of 8080.
- pip inside the build uses the host's package sources (its pip configuration), passed as the Dockerfile's
  build arguments: CPU torch comes from the host's wheels, never a CUDA build from the index.
- The GPU Dockerfile is not built here: its nvidia/cuda base cannot be pulled (test_images.py lints it).

A build that fails is reported with the Dockerfile step it failed at and buildah's last lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from corpus_harness import NOTEBOOKS, check_served, export_execute, load_entries
from image_harness import (
    BUILDAH,
    BuildFailed,
    base_image,
    build,
    container,
    host_pip_sources,
    image_config,
    run_in,
    serve,
    serving_uids,
)
from standalone import free_port

from jupyter_deploy.cluster.manifests import write_manifests

pytestmark = [
    pytest.mark.image,
    pytest.mark.kernel,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(BUILDAH is None, reason="buildah is not installed: make test installs it (make image-base)"),
]
ENTRIES = {entry["name"]: entry for entry in load_entries()}
# one corpus notebook per kind, as in the standalone contract (tests/corpus/test_standalone_kinds.py)
KINDS = {
    "lightgbm": "lightgbm-simple",
}


@pytest.fixture(scope="module")
def base() -> str:
    return base_image()


def build_and_check(project: Path, result: dict[str, Any], answers: dict[str, Any], v2: bool, base: str) -> None:
    """Manifests, image, entry point: answers equal the notebook's, no jupyter_deploy, a non-root server."""
    info = result["info"]
    name = info["name"]
    write_manifests(project, name)
    tag = f"localhost/jd-image-test/{name}:{info['version']}"
    build(project, name, tag, base, host_pip_sources(), project / "build.log")
    config = image_config(tag)
    user = config.get("User") or "root"
    assert user.split(":")[0] not in ("", "0", "root"), f"the image runs as {user!r}"
    with container(tag) as name_in_store:
        probe = run_in(name_in_store, user, "python", "-c", "import jupyter_deploy")
        assert probe.returncode != 0 and "No module named 'jupyter_deploy'" in probe.stderr, probe.stderr[-2000:]
        with serve(name_in_store, config, free_port(), name, project / "serve.log") as served:
            assert serving_uids(served.process) == {int(user.split(":")[0])}
            urls = {
                "v1": f"{served.url}/v1/models/{name}:predict",
                "v2": f"{served.url}/v2/models/{name}/infer",
            }
            check_served(urls, answers["cases"], v2)


@pytest.mark.parametrize("corpus_name", list(KINDS.values()), ids=list(KINDS))
def test_the_image_of_each_kind_serves_what_the_notebook_computed(corpus_name: str, tmp_path: Path, base: str) -> None:
    entry = ENTRIES[corpus_name]
    project = tmp_path / "project"
    result, answers = export_execute(NOTEBOOKS / entry["notebook"], project)
    build_and_check(project, result, answers, entry.get("v2", True), base)


def test_a_build_that_fails_names_the_step_it_failed_at(
    tmp_path: Path, make_version: Callable[..., Path], base: str
) -> None:
    """A pin that no index has (a release that does not exist): the report names the pip step and pip's error."""
    root = make_version(name="nowheel", root=tmp_path, requirements=["numpy==2.4.6", "jd-no-such-distribution==0.0.1"])
    write_manifests(root, "nowheel")
    with pytest.raises(BuildFailed) as failed:
        build(root, "nowheel", "localhost/jd-image-test/nowheel:v1", base, host_pip_sources(), tmp_path / "build.log")
    assert re.fullmatch(r"STEP \d+/\d+: RUN .*pip install -r requirements.txt", failed.value.step), failed.value.step
    assert "jd-no-such-distribution==0.0.1" in failed.value.tail
    assert str(failed.value).startswith(f"the image build failed at {failed.value.step}\n")
