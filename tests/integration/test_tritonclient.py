"""NVIDIA's tritonclient (HTTP), a v2 client we did not write, against our server over loopback.

It sends binary tensors with ``Inference-Header-Content-Length`` and no Content-Type, asks for binary outputs
per output or for all of them, and reads model metadata. The oracle is the ``scale`` notebook's own arithmetic
(x * 2 + 1 on rows of 3 float32 features; negative inputs refused by the notebook's predict).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.server

ROWS = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 10.0], [1e-3, 7.25, 1e6]], dtype=np.float32)


def expected(rows: Any) -> Any:
    """What the notebook's predict computes."""
    return rows * 2.0 + 1.0


@pytest.fixture
def client(scale_server: Any) -> Any:
    import tritonclient.http as triton

    connection = triton.InferenceServerClient(url=f"127.0.0.1:{scale_server.port}", network_timeout=30)
    yield connection
    connection.close()


def infer(client: Any, rows: Any, binary_input: bool, outputs: list[Any] | None, **options: Any) -> Any:
    import tritonclient.http as triton

    tensor = triton.InferInput("x", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary_input)
    return client.infer("scale", [tensor], outputs=outputs, **options)


@pytest.mark.parametrize("binary_input", [True, False], ids=["binary input", "JSON input"])
@pytest.mark.parametrize("binary_output", [True, False], ids=["binary output", "JSON output"])
def test_requested_outputs_in_either_form(client: Any, binary_input: bool, binary_output: bool) -> None:
    import tritonclient.http as triton

    result = infer(client, ROWS, binary_input, [triton.InferRequestedOutput("output-0", binary_data=binary_output)])
    output = result.get_output("output-0")
    assert ("binary_data_size" in (output.get("parameters") or {})) is binary_output
    assert "data" in output if not binary_output else "data" not in output
    np.testing.assert_array_equal(result.as_numpy("output-0"), expected(ROWS))


def test_all_outputs_binary_by_default(client: Any) -> None:
    """No requested outputs: tritonclient asks for ``binary_data_output`` on the whole request."""
    result = infer(client, ROWS, True, None)
    assert "binary_data_size" in result.get_output("output-0")["parameters"]
    np.testing.assert_array_equal(result.as_numpy("output-0"), expected(ROWS))
    assert result.get_response()["model_name"] == "scale"


def test_request_id_comes_back(client: Any) -> None:
    assert infer(client, ROWS[:1], True, None, request_id="abc-1").get_response()["id"] == "abc-1"


def test_health_and_metadata(client: Any) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("scale")
    metadata = client.get_model_metadata("scale")
    assert metadata["name"] == "scale" and "versions" not in metadata  # a list of strings, or nothing
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 3]}]


def test_errors_reach_the_client_as_messages(client: Any) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="negative inputs are not supported"):
        infer(client, -ROWS, True, None)
    with pytest.raises(InferenceServerException, match=r"shape \[N, 3\]"):
        infer(client, np.ones((2, 4), dtype=np.float32), True, None)
    with pytest.raises(InferenceServerException, match="Unexpected inference output 'nope'"):
        infer(client, ROWS, True, [triton.InferRequestedOutput("nope")])
    np.testing.assert_array_equal(infer(client, ROWS, True, None).as_numpy("output-0"), expected(ROWS))
