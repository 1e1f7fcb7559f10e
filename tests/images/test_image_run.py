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

A build that fails is reported with the Dockerfile step it failed at and buildah's last lines. The images stay in
buildah's storage (tags ``localhost/jd-image-test/NAME:vN``, overwritten by the next run), so that the next run
reuses their layers: a fresh machine builds all seven in about 12 minutes on two busy cores, a rerun in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

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
from notebooks import make_notebook
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
REPO = Path(__file__).resolve().parents[2]
# the corpus notebooks of the standalone contract (tests/corpus/test_standalone_kinds.py)
CORPUS_NAMES = {
    "torch-program": "torch-cifar10-cnn",
    "transformers": "transformers-gpt2-generation",
    "sklearn-skops-dataframe": "sklearn-column-transformer",
    "xgboost": "xgboost-sklearn-api",
    "lightgbm": "lightgbm-simple",
}
# v2 where the payload has a single-tensor form (a DataFrame has none: corpus.yaml says why)
V2 = {kind: ENTRIES[name].get("v2", True) for kind, name in CORPUS_NAMES.items()}


def quickstart(where: Path) -> Path:
    """The README's notebook, with another batch size to check beside its example."""
    import nbformat

    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("check_inputs = [X_val[4:11]]"))
    notebook.cells[-1].id = "image-test-check-inputs"
    nbformat.write(notebook, where / "quickstart.ipynb")
    return where / "quickstart.ipynb"


def torch_state_dict(where: Path) -> Path:
    """A module with a data-dependent branch: torch.export cannot trace it, so its weights go to a state_dict
    and its class into the predictor. (The corpus's char-RNN is this kind too, but trains for minutes.)"""
    return make_notebook(
        where / "gate.ipynb",
        "import torch\nfrom torch import nn",
        "class Gate(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.a = nn.Linear(4, 3)\n        self.b = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n        return self.a(x) if x.sum() > 0 else self.b(x)",
        "torch.manual_seed(0)\nmodel = Gate().eval()",
        "%%deploy example --name gate\nexample_input = torch.ones(3, 4)",
        "%%deploy predict --name gate\ndef predict(x):\n    with torch.no_grad():\n        return model(x)",
        "check_inputs = [-torch.ones(2, 4), torch.randn(5, 4)]",
    )


def corpus(kind: str) -> Callable[[Path], Path]:
    return lambda where: NOTEBOOKS / ENTRIES[CORPUS_NAMES[kind]]["notebook"]


# kind -> (the notebook, the suffix of the artifact that makes it that kind)
KINDS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "quickstart": (quickstart, ".pt2"),
    "torch-program": (corpus("torch-program"), ".pt2"),
    "torch-state-dict": (torch_state_dict, ".state.safetensors"),
    "transformers": (corpus("transformers"), ".hf"),
    "sklearn-skops-dataframe": (corpus("sklearn-skops-dataframe"), ".skops"),
    "xgboost": (corpus("xgboost"), ".xgb.ubj"),
    "lightgbm": (corpus("lightgbm"), ".lgb.txt"),
}


@pytest.fixture(scope="module")
def base() -> str:
    return base_image()


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_image_of_each_kind_serves_what_the_notebook_computed(
    kind: str, tmp_path: Path, base: str, record_property: Callable[..., None]
) -> None:
    """Manifests, image, entry point: answers equal the notebook's, no jupyter_deploy, a non-root server."""
    notebook_of, suffix = KINDS[kind]
    (tmp_path / "source").mkdir()
    project = tmp_path / "project"
    result, answers = export_execute(notebook_of(tmp_path / "source"), project)
    info = result["info"]
    name = info["name"]
    assert any(path.endswith(suffix) for path in info["artifacts"].values()), info["artifacts"]
    write_manifests(project, name)
    tag = f"localhost/jd-image-test/{name}:{info['version']}"
    seconds = build(project, name, tag, base, host_pip_sources(), project / "build.log")
    record_property("build_seconds", round(seconds, 1))

    config = image_config(tag)
    user = config.get("User") or "root"
    assert user.split(":")[0] not in ("", "0", "root"), f"the image runs as {user!r}"
    with container(tag) as working:
        probe = run_in(working, user, "python", "-c", "import jupyter_deploy")
        assert probe.returncode != 0 and "No module named 'jupyter_deploy'" in probe.stderr, probe.stderr[-2000:]
        if any(line.startswith("torch==") for line in info["requirements"]):
            # a CPU version gets torch's CPU build (the pin carries no build label), never the CUDA one
            cuda = run_in(working, user, "python", "-c", "import torch; print(torch.version.cuda)")
            assert cuda.stdout.strip() == "None", cuda.stdout + cuda.stderr[-2000:]
        with serve(working, config, free_port(), name, project / "serve.log") as served:
            record_property("ready_seconds", round(served.ready_seconds, 1))
            assert serving_uids(served.process) == {int(user.split(":")[0])}
            urls = {"v1": f"{served.url}/v1/models/{name}:predict", "v2": f"{served.url}/v2/models/{name}/infer"}
            check_served(urls, answers["cases"], V2.get(kind, True))


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
