"""KServe's v2 gRPC protocol, served with ``--enable_grpc true`` on the REST server's address and spoken by NVIDIA's
tritonclient (a real gRPC client, from PyPI): the same answers as the notebook's predict and as REST, errors as
messages, loopback only; without the flag nothing listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serve_fixtures import listening_addresses

pytestmark = pytest.mark.server

ROWS = [[1.0, 2.0, 3.0], [0.5, 0.0, 10.0]]
NOTEBOOK_ANSWERS = [[3.0, 5.0, 7.0], [2.0, 1.0, 21.0]]  # the notebook's predict: x * 2 + 1


def tensor(rows: list[list[float]]) -> Any:
    import tritonclient.grpc as grpcclient

    array = np.array(rows, dtype=np.float32)
    value = grpcclient.InferInput("x", list(array.shape), "FP32")
    value.set_data_from_numpy(array)
    return value


def test_tritonclient_over_grpc_gets_the_notebooks_answers(run_predictor: Any) -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    from jupyter_deploy.runtime.listen import free_port

    grpc_port = free_port()
    process = run_predictor("scale", "--enable_grpc", "true", "--grpc_port", str(grpc_port))
    assert process.poll() is None, process.log.read_text()
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("scale")
        metadata = client.get_model_metadata("scale")
        assert metadata.name == "scale" and metadata.inputs[0].datatype == "FP32"

        result = client.infer("scale", [tensor(ROWS)], request_id="r-7")
        assert result.get_response().id == "r-7"
        np.testing.assert_array_equal(result.as_numpy("output-0"), np.array(NOTEBOOK_ANSWERS, dtype=np.float32))
        rest = httpx.post(f"http://127.0.0.1:{process.port}/v1/models/scale:predict", json={"instances": ROWS})
        assert rest.json() == {"predictions": NOTEBOOK_ANSWERS}

        for rows, words in (([[-1.0, 2.0, 3.0]], "negative inputs are not supported"), ([[1.0, 2.0]], "shape [N, 3]")):
            with pytest.raises(InferenceServerException, match=words.replace("[", r"\[").replace("]", r"\]")):
                client.infer("scale", [tensor(rows)])
        assert client.is_server_live()  # errors are answers, not a dead server
    finally:
        client.close()
    # KServe's own gRPC server binds every interface; gRPC's socket for 127.0.0.1 may be IPv6, IPv4-mapped
    assert listening_addresses(grpc_port) in ({"127.0.0.1"}, {"::ffff:127.0.0.1"})
    assert listening_addresses(process.port) == {"127.0.0.1"}


def test_without_the_flag_nothing_listens_for_grpc(run_predictor: Any) -> None:
    from jupyter_deploy.runtime.listen import free_port

    grpc_port = free_port()
    process = run_predictor("scale", "--grpc_port", str(grpc_port))
    assert process.poll() is None, process.log.read_text()
    assert listening_addresses(grpc_port) == set()


def test_grpc_that_cannot_be_served_is_one_line(serve_root: Path) -> None:
    from jupyter_deploy.versions.store import resolve

    _, version_dir = resolve(serve_root, "scale")
    command = [sys.executable, "predictor.py", "--enable_grpc", "true", "--workers", "2"]
    result = subprocess.run(command, cwd=version_dir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "jupyter-deploy: --enable_grpc serves from one process: use --workers 1 with it"
    ]


def test_jupyter_deploy_serve_grpc_port(start_server: Any) -> None:
    """``serve --grpc-port 0`` picks a free port, says where (``grpc`` in ``--json``, a banner line) and serves
    the same answers there; with ``--workers 2`` it is one line."""
    import tritonclient.grpc as grpcclient

    from jupyter_deploy.exceptions import ServeError
    from jupyter_deploy.serving.local import banner

    server = start_server("scale", grpc_port=0)
    assert server.describe()["grpc"] == f"127.0.0.1:{server.grpc_port}"
    assert f"gRPC (v2, tritonclient): 127.0.0.1:{server.grpc_port}" in banner(server)
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        result = client.infer("scale", [tensor(ROWS)])
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("output-0"), np.array(NOTEBOOK_ANSWERS, dtype=np.float32))
    with pytest.raises(ServeError, match=r"^--grpc-port serves from one process: use --workers 1 with it$"):
        start_server("scale", grpc_port=0, workers=2)
