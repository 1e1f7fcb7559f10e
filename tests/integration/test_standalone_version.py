"""The contract a cluster relies on: a version serves on its own, from its requirements.txt alone.

What the image does, without building one: a fresh virtual environment with only ``requirements.txt``
installed from the package index (no jupyter-deploy in it), a copy of the version directory, and
``python predictor.py``; KServe's own client sends v1 and v2 requests and the answers must equal what the
notebook computed in its kernel. (The image build itself is checked in test_images.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from standalone import fresh_venv, standalone_server

pytestmark = [pytest.mark.kernel, pytest.mark.server, pytest.mark.slow]
BIN = Path(sys.executable).parent


def export_execute(project: Path, notebook: str) -> dict:
    result = subprocess.run(
        [str(BIN / "jupyter-deploy"), "export", notebook, "--execute", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_the_quickstart_version_serves_alone_in_a_fresh_venv(project: Path, repo_root: Path, tmp_path: Path) -> None:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    shutil.copy(repo_root / "examples" / "quickstart.ipynb", project / "quickstart.ipynb")
    result = export_execute(project, "quickstart.ipynb")
    version = Path(result["path"])
    requirements = (version / "requirements.txt").read_text().splitlines()
    assert not any(line.lower().startswith(("jupyter-deploy", "jupyter_deploy")) for line in requirements)
    assert any(line.startswith("kserve==") for line in requirements)

    python = fresh_venv(version, tmp_path / "venv")
    probe = subprocess.run([str(python), "-c", "import jupyter_deploy"], cwd=tmp_path, capture_output=True, timeout=60)
    assert probe.returncode != 0, "jupyter_deploy must not be importable where a version serves"

    example = np.asarray(json_or_tensor(version / "artifacts", "example_input"))
    expected = np.asarray(json_or_tensor(version / "artifacts", "example_output"))
    with standalone_server(python, version, tmp_path, "quickstart") as url:
        import asyncio

        async def ask() -> tuple[list, np.ndarray]:
            v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=60))
            v2 = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
            try:
                answer = await v1.infer(url, {"instances": example.tolist()}, model_name="quickstart")
                tensor = InferInput("input-0", list(example.shape), "FP32")
                tensor.set_data_from_numpy(example.astype(np.float32), binary_data=False)
                request = InferRequest(model_name="quickstart", infer_inputs=[tensor])
                response = await v2.infer(url, request, model_name="quickstart")
                return answer["predictions"], response.outputs[0].as_numpy()
            finally:
                await v1.close()
                await v2.close()

        v1_answer, v2_answer = asyncio.run(ask())
    np.testing.assert_allclose(np.asarray(v1_answer), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(v2_answer, expected, rtol=1e-4, atol=1e-5)


def json_or_tensor(directory: Path, stem: str) -> object:
    """A captured example (safetensors tensor or .npy or JSON), read without torch."""
    for path in directory.glob(f"{stem}.*"):
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            return load_file(str(path))["tensor"]
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".json":
            return json.loads(path.read_text())
    raise FileNotFoundError(stem)
