"""A version serves on the machine it runs on, whatever device the notebook's kernel chose.

No GPU here: a kernel that saw ``cuda`` / ``mps`` is simulated (``notebooks.simulated_device_cell``: torch reports
the device, tensors sent there stay on the CPU), and the move to another device is checked on torch's ``meta``
device, which every build of torch has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from notebooks import expected, exported, simulated_device_cell, version

IMPORTS = "import json\nimport numpy as np\nimport torch\nfrom torch import nn\ntorch.manual_seed(0)"
ORACLE = (
    "with open('expected.json', 'w') as f:\n    json.dump(predict(example_input).tolist(), f)\n"
    "with open('kernel.json', 'w') as f:\n    json.dump({'device': str(device)}, f)"
)
EXAMPLE = "%%deploy example\nexample_input = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])"
ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]


@pytest.mark.parametrize(
    ("kernel_device", "device_line"),
    [
        ("cuda", 'device = "cuda" if torch.cuda.is_available() else "cpu"'),
        ("mps", 'device = torch.device("mps" if torch.backends.mps.is_available() else "cpu")'),
    ],
)
def test_a_device_the_kernel_chose_is_chosen_again_where_the_version_serves(
    project: Path, kernel_device: str, device_line: str
) -> None:
    """The kernel's answer ("cuda", torch.device("mps")) would make every request fail on this CPU: the version
    holds no device, the serving one takes its place, and the answers are the notebook's."""
    import httpx
    import numpy.testing

    from jupyter_deploy.serving.local import start_server

    info = exported(
        project,
        simulated_device_cell(kernel_device),
        IMPORTS,
        device_line + "\nmodel = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).to(device).eval()",
        EXAMPLE,
        "%%deploy predict\ndef predict(x):\n    with torch.no_grad():\n        return model(x.to(device)).cpu()",
        ORACLE,
    )
    assert json.loads((project / "kernel.json").read_text())["device"] == kernel_device  # what the kernel saw
    assert info["artifacts"]["device"] == "device.device.json"
    assert kernel_device.encode() not in (version(project) / "artifacts" / "device.device.json").read_bytes()

    server = start_server(project, "m", port=0)
    try:
        answer = httpx.post(server.v1_url, json={"instances": ROWS})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    numpy.testing.assert_allclose(answer.json()["predictions"], expected(project), rtol=1e-6)


# --- the capture and the loaders directly, without a kernel (fast) ----------------------------------------------


def _statement(text: str) -> Any:
    """The closure's record of the cell statement that bound a name (what export passes as ``bindings``)."""
    from jupyter_deploy.notebook.closure import parse_cell
    from jupyter_deploy.notebook.read import Cell

    return parse_cell(Cell(id="c1", index=1, source=text))[0]


def _captured(tmp_path: Path, name: str, value: Any, statement: str) -> tuple[str, Any]:
    from jupyter_deploy.capture import CaptureContext, capture
    from jupyter_deploy.runtime.artifacts import load_artifact

    saved = capture(name, value, CaptureContext(directory=tmp_path, bindings={name: _statement(statement)}))
    return saved.filename, load_artifact(tmp_path / saved.filename, device=__import__("torch").device("cpu"))


def test_device_values_are_recognised_by_value_and_statement(tmp_path: Path) -> None:
    import torch

    chosen = "dev = 'cuda:1' if torch.cuda.device_count() > 1 else 'cpu'"
    assert _captured(tmp_path, "dev", "cuda:1", chosen) == ("dev.device.json", "cpu")
    accelerator = "device = torch.accelerator.current_accelerator()"
    assert _captured(tmp_path, "device", torch.device("mps"), accelerator)[1] == torch.device("cpu")
    # a string that happens to read like a device, computed by a statement that is not about devices
    assert _captured(tmp_path, "label", "cpu", "label = names[int(scores.argmax())]") == ("label.json", "cpu")


def test_a_device_the_notebook_fixed_is_kept_and_refused_in_one_line_where_it_is_missing(tmp_path: Path) -> None:
    import torch

    from jupyter_deploy.runtime.loaders.device import check_notebook_devices

    filename, loaded = _captured(tmp_path, "device", torch.device("cpu"), "device = torch.device('cpu')")
    assert (filename, loaded) == ("device.device.json", torch.device("cpu"))
    with pytest.raises(SystemExit) as stop:  # exported where cuda:99 existed, loaded here
        _captured(tmp_path, "gpu", torch.device("cuda:99"), "gpu = torch.device('cuda', 99)")
    line = getattr(stop.value, "reason", None) or str(stop.value.code)
    assert "\n" not in line and "the notebook's gpu is 'cuda:99', a device this machine does not have" in line
    assert "torch.cuda.is_available()" in line

    # the literal a predictor copies from the notebook: checked when the server starts
    check_notebook_devices({"device": "cpu", "units": "mps", "DEVICE_NAME": "not a device", "m": torch.device("meta")})
    with pytest.raises(SystemExit) as stop:  # no machine has 100 GPUs
        check_notebook_devices({"DEVICE": "cuda:99"})
    line = getattr(stop.value, "reason", None) or str(stop.value.code)
    assert "the notebook's DEVICE is 'cuda:99', a device this machine does not have" in line


class _Padded(__import__("torch").nn.Module):
    """``forward`` creates a tensor on its input's device: traced on the CPU, the graph says ``device=cpu``."""

    def __init__(self) -> None:
        import torch

        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: Any) -> Any:
        import torch

        return self.linear(x) + torch.zeros(x.shape[0], 2, device=x.device)


def test_a_program_moves_with_the_tensors_its_forward_creates(tmp_path: Path) -> None:
    """``module().to(device)`` moves the weights only: the graph's ``zeros(..., device=cpu)`` would stay."""
    import torch

    from jupyter_deploy.runtime.loaders.torch_module import load

    program = torch.export.export(_Padded(), (torch.rand(2, 3),))
    torch.export.save(program, str(tmp_path / "padded.pt2"))
    assert _graph_devices(load(tmp_path / "padded.pt2")) == {"cpu"}

    moved = load(tmp_path / "padded.pt2", device=torch.device("meta"))
    assert _graph_devices(moved) == {"meta"}
    assert {parameter.device.type for parameter in moved.parameters()} == {"meta"}
    assert moved(torch.rand(2, 3, device="meta")).device.type == "meta"


def _graph_devices(module: Any) -> set[str]:
    """The device every node of the program's graph creates a tensor on (its ``device=`` argument)."""
    import torch

    return {
        torch.device(node.kwargs["device"]).type
        for graph_module in module.modules()
        if isinstance(graph_module, torch.fx.GraphModule)
        for node in graph_module.graph.nodes
        if "device" in node.kwargs
    }
