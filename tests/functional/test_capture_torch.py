"""Capturing torch modules and tensors from a real kernel (``jupyter-deploy export --execute``).

Each notebook writes what it computed itself (``expected.json``): the oracle the exported version, its
parity check and the served answers are compared against.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from notebooks import expected, export, exported, version

IMPORTS = "import json\nimport numpy as np\nimport torch\nfrom torch import nn\ntorch.manual_seed(0)"
# the notebook's own answer on example_input, written where the test can read it
ORACLE = "with open('expected.json', 'w') as f:\n    json.dump(predict(example_input).tolist(), f)"

# forward has data-dependent control flow: torch.export cannot trace it
GATE_CLASS = '''class Gate(nn.Module):
    """Sign-dependent activation: the branch depends on the data."""

    def __init__(self, n_in, hidden, n_out=2, scale=1.0):
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.out = nn.Linear(hidden, n_out)
        self.scale = scale

    def forward(self, x):
        h = self.inp(x)
        if h.sum() > 0:
            h = h.relu()
        else:
            h = -h
        for _ in range(int(h.abs().sum().item()) % 3):
            h = h * 0.5
        return self.out(h) * self.scale'''


SCORER_CLASS = """class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, features, mask=None, *, temperature=1.0):
        return self.linear(features).squeeze(-1) * mask / temperature"""


def test_tensors_predict_builds_itself_and_keyword_inputs_export_to_cpu_programs(project: Path) -> None:
    """The modules' inputs are created under inference mode from the request (torch.from_numpy), and one
    module is called with keyword inputs: torch.export traces both."""
    info = exported(
        project,
        IMPORTS + "\nmodel = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).eval()",
        SCORER_CLASS,
        "scorer = Scorer().eval()",
        "%%deploy example\nexample_input = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [0, 0, 1]], dtype=np.float32)",
        "%%deploy predict\ndef predict(x):\n    t = torch.from_numpy(np.asarray(x, dtype=np.float32))\n"
        "    return scorer(model(t), mask=torch.ones(t.shape[0]), temperature=torch.tensor(2.0))",
        ORACLE,
    )
    assert info["artifacts"] == {"model": "model.pt2", "scorer": "scorer.pt2"}
    for name in info["artifacts"].values():
        with zipfile.ZipFile(version(project) / "artifacts" / name) as program:
            assert not any(b"cuda" in program.read(member) for member in program.namelist())
    assert len(expected(project)) == 3


GATE_CELLS = (
    IMPORTS,
    GATE_CLASS,
    "width = len('abcdefgh')  # computed: its value is what counts\nmodel = Gate(3, width, scale=0.5)",
    "def train(module):\n    with torch.no_grad():\n        module.out.bias.fill_(0.25)\n    return module\n\n\n"
    "model = train(model)\nbias = torch.randn(2)",
    "%%deploy example\nexample_input = [[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]]",
    "%%deploy predict\ndef predict(rows):\n    return model(torch.tensor(rows)) + bias",
    ORACLE,
)


def test_untraceable_notebook_class_falls_back_to_its_state_dict_and_serves(project: Path) -> None:
    """Data-dependent control flow: the weights go to safetensors and the predictor rebuilds Gate(3, 8, ...)."""
    import httpx
    import numpy.testing

    info = exported(project, *GATE_CELLS)
    assert info["artifacts"] == {"bias": "bias.safetensors", "model": "model.state.safetensors"}
    predictor = (version(project) / "predictor.py").read_text()
    assert "class Gate(nn.Module):" in predictor
    assert "build=lambda: Gate(3, 8, scale=0.5)," in predictor
    assert "def train" not in predictor

    # KServe's ModelServer answers what the notebook computed (state_dict and tensor loaded at start-up)
    from jupyter_deploy.serving.local import start_server as start

    server = start(project, "m", port=0)
    try:
        answer = httpx.post(server.v1_url, json={"instances": [[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]]})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    numpy.testing.assert_allclose(answer.json()["predictions"], expected(project), atol=1e-5)


def test_untraceable_module_with_an_unrecoverable_constructor_is_refused_clearly(project: Path) -> None:
    cells = (
        IMPORTS,
        GATE_CLASS,
        "def make_gate(width):\n    return Gate(3, width)\n\n\nmodel = make_gate(8)",
        "%%deploy example\nexample_input = [[1.0, -2.0, 3.0]]",
        "%%deploy predict\ndef predict(rows):\n    return model(torch.tensor(rows))",
    )
    done = export(project, *cells)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert "torch.export could not trace it" in message
    assert "cannot rebuild a Gate" in message and "no call Gate(...)" in message
    assert "'load' cell" in message and "--allow-pickle" in message
    assert not (project / "deployments" / "m" / "v1").exists()

    # the user's explicit choice: pickle, with the notebook's class defined in the predictor to unpickle it
    info = exported(project, *cells, ORACLE, options=("--allow-pickle",))
    assert info["artifacts"] == {"model": "model.pkl"} and info["allow_pickle"] is True
    assert "class Gate(nn.Module):" in (version(project) / "predictor.py").read_text()


# --- the capture API directly, without a kernel (fast) --------------------------------------------------


def captured(tmp_path: Path, name: str, value: Any, **context: Any) -> tuple[Any, Any]:
    """(Saved, the object loaded back from it as the predictor would)."""
    from jupyter_deploy.capture import CaptureContext, capture
    from jupyter_deploy.runtime.artifacts import load_artifact

    saved = capture(name, value, CaptureContext(directory=tmp_path, **context))
    arguments = {key: eval(source, dict(context.get("namespace", {}))) for key, source in saved.arguments.items()}
    return saved, load_artifact(tmp_path / saved.filename, device=__import__("torch").device("cpu"), **arguments)


def test_nested_inputs_recorded_under_inference_mode_export(tmp_path: Path) -> None:
    import torch

    from jupyter_deploy.capture.torch_module import recording_module_inputs

    class Pair(torch.nn.Module):
        def forward(self, batch: dict, pair: tuple, *, scale: Any) -> Any:
            return batch["x"] * scale + pair[0] - pair[1]

    module = Pair()
    with torch.inference_mode(), recording_module_inputs({"pair": module}) as inputs:
        x = torch.arange(6.0).reshape(2, 3)
        module({"x": x}, (x, x / 2), scale=torch.tensor(3.0))
    saved, loaded = captured(tmp_path, "pair", module, module_inputs=inputs)
    assert saved.filename == "pair.pt2"
    x = torch.rand(5, 3)  # another batch size: the batch dimension stayed dynamic
    assert torch.equal(loaded({"x": x}, (x, x / 2), scale=torch.tensor(3.0)), x * 3 + x - x / 2)


@pytest.mark.parametrize("history", ["model = Tied(4)", "model = tcm.Tied(4).to('cpu')"])
def test_state_dict_with_shared_tensors_is_rebuilt_from_the_constructor(tmp_path: Path, history: str) -> None:
    import capture_torch_models
    import torch

    torch.manual_seed(0)
    Tied = capture_torch_models.Tied
    model = Tied(4).eval()
    namespace = {"Tied": Tied, "tcm": capture_torch_models, "In": ["", history, "model = model.eval()"]}
    if history.startswith("model = tcm"):
        del namespace["Tied"]  # the predictor imports the class from its module
    saved, loaded = captured(tmp_path, "model", model, namespace=namespace, module_inputs={})
    assert saved.filename == "model.state.safetensors"
    assert saved.arguments["build"].endswith("Tied(4)")
    x = torch.rand(2, 3)
    assert torch.equal(loaded(x), model(x)) and loaded.tie is loaded.tie2


def test_a_constructor_call_whose_arguments_changed_since_is_not_trusted(tmp_path: Path) -> None:
    from capture_torch_models import Tied

    from jupyter_deploy.exceptions import CaptureError

    model = Tied(4)
    namespace = {"Tied": Tied, "width": 6, "In": ["", "width = 4\nmodel = Tied(width)\nwidth = 6"]}
    with pytest.raises(CaptureError, match=r"Tied\(6\) builds a module whose state_dict differs"):
        captured(tmp_path, "model", model, namespace=namespace, module_inputs={})
    with pytest.raises(CaptureError, match=r"'len\(sizes\)' is computed by a call"):
        captured(tmp_path, "model", model, namespace={"Tied": Tied, "In": ["model = Tied(len(sizes))"]})
    assert list(tmp_path.iterdir()) == []


def test_a_notebook_class_defined_again_after_the_module_was_built_is_named(tmp_path: Path) -> None:
    from capture_torch_models import Tied

    from jupyter_deploy.exceptions import CaptureError

    # what a kernel holds after the class cell ran again: model's class is no longer the name Tied
    old_class = type("Tied", (Tied,), {"__module__": "__main__", "__qualname__": "Tied"})
    namespace = {"Tied": type("Tied", (Tied,), {"__module__": "__main__"}), "In": ["model = Tied(4)"]}
    with pytest.raises(CaptureError, match="Tied was defined again after it was created: run the cell"):
        captured(tmp_path, "model", old_class(4), namespace=namespace)


def test_a_captured_tensor_loads_back_on_the_serving_device(tmp_path: Path) -> None:
    import torch

    with torch.inference_mode():
        tensor = torch.arange(12.0).reshape(3, 4).t()  # an inference tensor, not contiguous
    saved, loaded = captured(tmp_path, "weights", tensor)
    assert saved.filename == "weights.safetensors"
    assert torch.equal(loaded, tensor) and loaded.device == torch.device("cpu")


RNN_NOTEBOOK = """
import torch
from torch import nn


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x, hidden):
        return torch.tanh(self.i2h(torch.cat([x, hidden], 1)))

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


rnn = RNN(3, 4)


def evaluate(line):
    hidden = rnn.initHidden()
    for row in line:
        hidden = rnn(row[None], hidden)
    return hidden


def predict(line):
    return evaluate(torch.tensor(line))
"""


def test_a_method_predict_calls_besides_forward_keeps_the_class(tmp_path: Path) -> None:
    """torch.export keeps forward only: rnn.initHidden() (called by a helper of predict) needs the real class."""
    import torch

    from jupyter_deploy.capture.torch_module import recording_module_inputs

    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(RNN_NOTEBOOK, "<notebook>", "exec"), namespace)  # a kernel's namespace: classes of __main__
    namespace["In"] = ["", RNN_NOTEBOOK]
    line = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    with torch.inference_mode(), recording_module_inputs({"rnn": namespace["rnn"]}) as inputs:
        expected_hidden = namespace["predict"](line)
    saved, loaded = captured(tmp_path, "rnn", namespace["rnn"], namespace=namespace, module_inputs=inputs)
    assert (saved.filename, saved.arguments, saved.needs) == (
        "rnn.state.safetensors",
        {"build": "lambda: RNN(3, 4)"},
        frozenset({"RNN"}),
    )
    namespace["rnn"] = loaded
    assert torch.equal(namespace["predict"](line), expected_hidden)
