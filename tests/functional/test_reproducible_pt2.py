"""A traced torch module's ``.pt2`` is the same bytes each time an unchanged, seeded notebook is exported.

``torch.export.save`` writes each node's stack trace, which names the cell's file in the kernel's temporary
directory (``ipykernel_PID/...py``); its serialization id is derived from the contents. Two ``export --execute``
runs (fresh kernels, other process ids) must make one version, and no file of it may name the exporting machine's
temporary directory, home, project or the kernel's files.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from notebooks import exported_again, make_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

CELLS = (
    "import torch\nfrom torch import nn\n\ntorch.manual_seed(0)",
    "class Tagger(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.embedding = nn.Embedding(20, 4)\n"
    "        self.out = nn.Linear(4, 3)\n\n"
    "    def forward(self, ids):\n"
    "        positions = torch.arange(ids.shape[1], device=ids.device)\n"
    "        return self.out(self.embedding(ids) + positions[None, :, None]).mean(1)\n\n\n"
    "model = Tagger().eval()\nscale = torch.rand(3)",
    "%%deploy example\nexample_input = torch.tensor([[1, 2, 3], [4, 5, 6]])",
    "%%deploy predict\ndef predict(ids):\n    with torch.no_grad():\n        return model(ids) * scale",
)


def _export(project: Path) -> dict:
    return exported_again(project)


def test_a_traced_module_exports_to_the_same_bytes_and_names_no_machine_path(project: Path) -> None:
    make_notebook(project / "m.ipynb", *CELLS)
    first = _export(project)
    assert first["created"] and first["info"]["artifacts"]["model"] == "model.pt2"
    second = _export(project)
    assert not second["created"] and second["info"]["version"] == "v1", second.get("changed_files")

    version = project / "deployments" / "m" / "v1"
    machine = {
        "temporary directory": tempfile.gettempdir(),
        "home": os.path.expanduser("~"),
        "project": str(project.resolve()),
        "kernel file": "ipykernel_",
    }
    files = {path: path.read_bytes() for path in sorted(version.rglob("*")) if path.is_file()}
    with zipfile.ZipFile(version / "artifacts" / "model.pt2") as archive:  # its entries, uncompressed
        files.update({version / "model.pt2" / name: archive.read(name) for name in archive.namelist()})
    found = [
        f"{path.relative_to(version)} names the {label}"
        for path, data in files.items()
        for label, text in machine.items()
        if len(text) > 1 and text.encode() in data
    ]
    assert not found, found

    import torch  # the archive still loads, and answers what the notebook's module does

    program = torch.export.load(str(version / "artifacts" / "model.pt2")).module()
    assert program(torch.tensor([[1, 2, 3, 4]])).shape == (1, 3)
