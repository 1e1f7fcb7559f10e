"""The image build verifies the version it copies: ``deploy/NAME/Dockerfile`` built for real with buildah (see
``image_harness``) passes its ``RUN python -m _jd_runtime.verify .`` step for an untouched version and fails
there, naming the file, for a version whose artifact was changed after export (same size: only a hash tells).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from image_harness import BUILDAH, BuildFailed, base_image, build, host_pip_sources
from notebooks import make_notebook

from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.versions.export import export_notebook

pytestmark = [
    pytest.mark.image,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(BUILDAH is None, reason="buildah is not installed: make test installs it (make image-base)"),
]
CELLS = (
    "import numpy as np",
    "%%deploy load --name lin --artifact weights.npy\nW = np.load('weights.npy')",
    "%%deploy example --name lin\nexample_input = np.array([[1.0, 2.0]])",
    "%%deploy predict --name lin\ndef predict(x):\n    return np.asarray(x) @ W",
)
VERIFY_STEP = "RUN python -m _jd_runtime.verify ."


def test_the_build_refuses_a_changed_version_at_its_verify_step(project: Path, tmp_path: Path) -> None:
    np.save(project / "weights.npy", np.arange(6, dtype=np.float64).reshape(2, 3))
    make_notebook(project / "lin.ipynb", *CELLS)
    export_notebook(project / "lin.ipynb", root=project)
    write_manifests(project, "lin")
    dockerfile = (project / "deploy" / "lin" / "Dockerfile").read_text().splitlines()
    copy = next(i for i, line in enumerate(dockerfile) if line.startswith("COPY") and line.endswith("/ ./"))
    assert dockerfile[copy + 1] == VERIFY_STEP  # right after the version is copied, before anything runs it

    base, sources = base_image(), host_pip_sources()
    build(project, "lin", "localhost/jd-image-test/lin-verify:v1", base, sources, tmp_path / "intact.log")

    weights = project / "deployments" / "lin" / "v1" / "artifacts" / "files" / "weights.npy"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BuildFailed) as failed:
        build(project, "lin", "localhost/jd-image-test/lin-verify:bad", base, sources, tmp_path / "changed.log")
    assert VERIFY_STEP in failed.value.step, failed.value
    lines = [line for line in failed.value.tail.splitlines() if "fails verification" in line]
    assert lines and "artifacts/files/weights.npy changed since export" in lines[0], failed.value.tail
    shutil.rmtree(project / "deploy")
