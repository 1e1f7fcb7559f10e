"""A torch version answers inputs of other lengths and sizes than ``example_input`` where its module takes them.

The oracle is the notebook's own eager model: the kernel that export captures from also runs ``predict`` on the
other-length requests and writes its answers (``expected.json``), which the served version must give back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from notebooks import expected, exported

IMPORTS = "import json\nimport torch\nfrom torch import nn\ntorch.manual_seed(0)"
PREDICT = "%%deploy predict\ndef predict(x):\n    with torch.no_grad():\n        return model(x)"
# the notebook's answers on each request, in the kernel (eager)
ORACLE = (
    "with open('expected.json', 'w') as f:\n"
    "    json.dump([{'request': r.tolist(), 'answer': predict(r).tolist()} for r in requests], f)"
)

TEXT = (
    "class Bag(nn.Module):\n"
    "    def __init__(self, vocabulary, width, classes):\n"
    "        super().__init__()\n"
    "        self.embedding = nn.Embedding(vocabulary, width)\n"
    "        self.out = nn.Linear(width, classes)\n\n"
    "    def forward(self, ids):\n"
    "        return self.out(self.embedding(ids).mean(1))\n\n\n"
    "model = Bag(50, 8, 3).eval()",
    "%%deploy example\nexample_input = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])",
    "requests = [torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (1, 2)), torch.randint(0, 50, (2, 5))]",
)
LSTM = (
    "class Tagger(nn.Module):\n"
    "    def __init__(self, vocabulary, width, hidden, classes):\n"
    "        super().__init__()\n"
    "        self.embedding = nn.Embedding(vocabulary, width)\n"
    "        self.lstm = nn.LSTM(width, hidden, batch_first=True)\n"
    "        self.out = nn.Linear(hidden, classes)\n\n"
    "    def forward(self, ids):\n"
    "        start = torch.zeros(1, ids.shape[0], self.lstm.hidden_size, device=ids.device)\n"
    "        _, (last, _) = self.lstm(self.embedding(ids), (start, start))\n"
    "        return self.out(last[-1])\n\n\n"
    "model = Tagger(50, 8, 16, 3).eval()",
    "%%deploy example\nexample_input = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])",
    "requests = [torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (1, 3)), torch.randint(0, 50, (2, 5))]",
)
CONV = (
    "model = nn.Sequential(\n"
    "    nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(16, 2)\n"
    ").eval()",
    "%%deploy example\nexample_input = torch.rand(2, 3, 8, 8)",
    "requests = [torch.rand(1, 3, 12, 10), torch.rand(2, 3, 5, 7), torch.rand(1, 3, 8, 8)]",
)


@pytest.mark.parametrize(
    ("cells", "artifact", "shape"),
    [
        pytest.param(TEXT, "model.pt2", [-1, -1], id="embedding-mean"),
        # torch.export fixes nn.LSTM's time axis: the module is served eagerly, rebuilt from its class
        pytest.param(LSTM, "model.state.safetensors", [-1, -1], id="lstm"),
        pytest.param(CONV, "model.pt2", [-1, 3, -1, -1], id="conv-adaptive-pool"),
    ],
)
def test_requests_of_other_lengths_get_the_notebooks_answers(
    project: Path, cells: tuple[str, ...], artifact: str, shape: list[int]
) -> None:
    import httpx
    import numpy as np

    from jupyter_deploy.serving.local import start_server

    info = exported(project, IMPORTS, *cells, PREDICT, ORACLE)
    assert info["artifacts"]["model"] == artifact
    assert info["input_spec"]["shape"] == shape
    server = start_server(project, "m", port=0)
    try:
        for case in expected(project):
            request = np.asarray(case["request"])
            answer = httpx.post(server.v1_url, json={"instances": case["request"]}, timeout=60)
            assert answer.status_code == 200, (request.shape, answer.text)
            np.testing.assert_allclose(answer.json()["predictions"], case["answer"], rtol=1e-5, atol=1e-6)
            v2 = _v2(server.v2_url, request)
            np.testing.assert_allclose(v2, case["answer"], rtol=1e-5, atol=1e-6)
        if shape[1] != -1:  # the channels really are fixed: a request with 4 is refused in one line
            wrong = np.zeros((1, 4, 8, 8)).tolist()
            refused = httpx.post(server.v1_url, json={"instances": wrong}, timeout=60)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "expected inputs of shape [N, 3, N, N], got [1, 4, 8, 8]"
    finally:
        server.stop()


def _v2(url: str, request: Any) -> Any:
    import httpx
    import numpy as np

    datatype = "INT64" if request.dtype.kind == "i" else "FP32"
    body = {
        "inputs": [
            {"name": "input-0", "shape": list(request.shape), "datatype": datatype, "data": request.ravel().tolist()}
        ]
    }
    answer = httpx.post(url, json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    return np.asarray(output["data"]).reshape(output["shape"])


# --- which dimensions are free, without a kernel (fast) --------------------------------------------------------


class _Flat(__import__("torch").nn.Module):
    """The quickstart's shape: flatten, then Linear(28 * 28): torch leaves H and W free but ties them."""

    def __init__(self) -> None:
        import torch

        super().__init__()
        self.linear = torch.nn.Linear(28 * 28, 2)

    def forward(self, x: Any) -> Any:
        return self.linear(x.flatten(1))


def test_sizes_the_module_needs_stay_fixed_in_the_program() -> None:
    import torch

    from jupyter_deploy.capture.torch_dims import trace

    width = trace(torch.nn.Linear(5, 2), (torch.rand(2, 5),), {})
    assert width.inputs == (((5,), frozenset({0})),) and width.narrowed is None
    program = width.program.module()
    assert program(torch.rand(7, 5)).shape == (7, 2)  # any batch
    with pytest.raises(Exception, match="5"):
        program(torch.rand(2, 6))

    tied = trace(_Flat(), (torch.rand(2, 1, 28, 28),), {})
    assert tied.inputs == (((1, 28, 28), frozenset({0})),)
    with pytest.raises(Exception, match="28"):  # 14 x 56 is 784 too, but not an image this model was made for
        tied.program.module()(torch.rand(2, 1, 14, 56))
