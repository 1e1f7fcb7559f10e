"""The exported predictor on KServe's real model server, over loopback: protocols, bad input, slow predicts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
from serve_fixtures import listening_addresses

pytestmark = pytest.mark.server


def kserve_infer(url: str, body: Any, protocol: str, model: str) -> Any:
    """One request through KServe's own client."""
    from kserve import InferenceRESTClient, RESTConfig

    async def call() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol=protocol, retries=0))
        try:
            return await client.infer(url, body, model_name=model)
        finally:
            await client.close()

    return asyncio.run(call())


def test_v1_and_v2_through_kserve_client_on_loopback(scale_server: Any) -> None:
    from kserve import InferInput, InferRequest

    rows = [[1.0, 2.0, 3.0], [0.5, 0.0, 10.0]]
    v1 = kserve_infer(scale_server.base_url, {"instances": rows}, "v1", "scale")
    assert v1 == {"predictions": [[3.0, 5.0, 7.0], [2.0, 1.0, 21.0]]}

    tensor = InferInput(name="x", shape=[2, 3], datatype="FP32")
    tensor.set_data_from_numpy(np.array(rows, dtype=np.float32), binary_data=False)
    v2 = kserve_infer(scale_server.base_url, InferRequest(model_name="scale", infer_inputs=[tensor]), "v2", "scale")
    assert v2.outputs[0].as_numpy().tolist() == [[3.0, 5.0, 7.0], [2.0, 1.0, 21.0]]

    assert listening_addresses(scale_server.port) == {"127.0.0.1"}


def test_health_metadata_and_metrics(scale_server: Any) -> None:
    base = scale_server.base_url
    assert httpx.get(f"{base}/v2/health/live").status_code == 200
    assert httpx.get(f"{base}/v2/models/scale/ready").json()["ready"] is True
    assert httpx.get(f"{base}/v1/models/scale").json() == {"name": "scale", "ready": True}
    httpx.post(f"{base}/v1/models/scale:predict", json={"instances": [[1, 2, 3]]})
    httpx.post(f"{base}/v1/models/scale:predict", json={"instances": [[1, 2]]})
    for name in ("nope", "other"):  # unknown names: KServe's 404, and no metric series of their own
        assert httpx.post(f"{base}/v1/models/{name}:predict", json={"instances": [[1, 2, 3]]}).status_code == 404
    metrics = httpx.get(f"{base}/metrics").text
    assert 'model_name="nope"' not in metrics and 'model_name="other"' not in metrics
    assert 'jupyter_deploy_requests_total{code="200",model_name="scale",protocol="v1"}' in metrics
    assert 'jupyter_deploy_requests_total{code="400",model_name="scale",protocol="v1"}' in metrics
    assert "jupyter_deploy_request_seconds_bucket" in metrics
    assert 'request_predict_seconds_count{model_name="scale"}' in metrics  # KServe's own


JSON = {"content-type": "application/json"}
V2_OK = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
BAD_REQUESTS = [
    # (id, path, body bytes, content type, status, words the message must contain)
    ("malformed v1 JSON", "/v1/models/scale:predict", b'{"instances": [[1, 2', "application/json", 400, "format"),
    ("text content type", "/v1/models/scale:predict", b'{"instances": [[1, 2, 3]]}', "text/plain", 400, "JSON"),
    ("wrong shape", "/v1/models/scale:predict", b'{"instances": [[1, 2]]}', "application/json", 400, "shape [N, 3]"),
    (
        "wrong dtype",
        "/v1/models/scale:predict",
        b'{"instances": [["a", "b", "c"]]}',
        "application/json",
        400,
        "float32",
    ),
    ("not a list", "/v1/models/scale:predict", b'{"instances": 3}', "application/json", 400, "to be a list"),
    ("no instances", "/v1/models/scale:predict", b'{"rows": [[1, 2, 3]]}', "application/json", 400, "instances"),
    (
        "v2 data short",
        "/v2/models/scale/infer",
        json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1]}]}).encode(),
        "application/json",
        400,
        "invalid",
    ),
    ("predict raises", "/v1/models/scale:predict", b'{"instances": [[-1, 2, 3]]}', "application/json", 500, "negative"),
]


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_json_errors_and_the_server_stays_up(
    scale_server: Any, path: str, body: bytes, content_type: str | None, status: int, words: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(scale_server.base_url + path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert words.lower() in response.json()["error"].lower()
    ok = httpx.post(f"{scale_server.base_url}/v1/models/scale:predict", json={"instances": [[1, 2, 3]]})
    assert ok.json() == {"predictions": [[3.0, 5.0, 7.0]]}


def test_as_kserve_json_without_content_type_and_422_for_v2_schema_errors(scale_server: Any) -> None:
    """KServe reads a v1 body without Content-Type as JSON, and answers a v2 body its schema refuses with 422."""
    bare = httpx.post(f"{scale_server.base_url}/v1/models/scale:predict", content=b'{"instances": [[1, 2, 3]]}')
    assert (bare.status_code, bare.json()) == (200, {"predictions": [[3.0, 5.0, 7.0]]})
    malformed = httpx.post(f"{scale_server.base_url}/v2/models/scale/infer", content=b'{"inputs": [', headers=JSON)
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["type"] == "json_invalid"
    ok = httpx.post(f"{scale_server.base_url}/v1/models/scale:predict", json={"instances": [[1, 2, 3]]})
    assert ok.json() == {"predictions": [[3.0, 5.0, 7.0]]}


def test_oversized_body_is_413(scale_server: Any) -> None:
    url = f"{scale_server.base_url}/v1/models/scale:predict"
    with socket.create_connection(("127.0.0.1", scale_server.port), timeout=5) as raw:  # a declared size only
        raw.sendall(
            b"POST /v1/models/scale:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n{}"
        )
        answer = b""
        while b"larger than" not in answer:  # headers and body may arrive in separate reads
            chunk = raw.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"larger than" in answer

    def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        for _ in range(70):
            yield b" " * (1024 * 1024)

    streamed = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_v2_without_id_and_charset_content_type(scale_server: Any) -> None:
    response = httpx.post(
        f"{scale_server.base_url}/v2/models/scale/infer",
        content=json.dumps(V2_OK).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"]
    assert response.json()["outputs"][0]["data"] == [3.0, 5.0, 7.0]


def test_binary_cloudevents_are_answered_by_kserve(scale_server: Any) -> None:
    """A request with ``ce-*`` headers passes the v1 fast path by, to KServe's CloudEvents handling."""
    headers = {"ce-specversion": "1.0", "ce-id": "r1", "ce-source": "test", "ce-type": "org.example.predict"}
    response = httpx.post(scale_server.v1_url, json={"instances": [[1, 2, 3]]}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["ce-type"] == "io.kserve.inference.response"
    assert response.json() == {"predictions": [[3.0, 5.0, 7.0]]}


def test_health_answers_while_a_200ms_sync_predict_runs(start_server: Any) -> None:
    server = start_server("slow")
    base = server.base_url
    health = httpx.Client(timeout=5)
    health.get(f"{base}/v2/health/ready")  # a warm connection: the timings are the server's, not TCP set-up
    done: dict[str, float] = {}

    def slow_predict() -> None:
        start = time.perf_counter()
        httpx.post(f"{base}/v1/models/slow:predict", json={"instances": [[1, 2]]}, timeout=10)
        done["predict"] = time.perf_counter() - start

    thread = threading.Thread(target=slow_predict)
    thread.start()
    timings = []
    paths = ["/v2/health/ready", "/v2/models/slow/ready", "/v2/health/live"]
    while thread.is_alive() and len(timings) < len(paths):
        start = time.perf_counter()
        assert health.get(base + paths[len(timings)]).status_code == 200
        if thread.is_alive():  # only checks answered while the predict was still running count
            timings.append(time.perf_counter() - start)
    thread.join()
    health.close()
    assert timings, "no health check was answered while the predict ran: the test proves nothing"
    assert max(timings) < 0.1, timings
    assert done["predict"] >= 0.2


def test_port_in_use_is_a_clear_error(scale_server: Any, serve_root: Any) -> None:
    from jupyter_deploy.exceptions import ServeError
    from jupyter_deploy.serving.local import start_server

    with pytest.raises(ServeError, match=rf"cannot listen on 127.0.0.1:{scale_server.port} .*--port"):
        start_server(serve_root, "scale", port=scale_server.port)


def test_two_workers_share_the_port(start_server: Any) -> None:
    server = start_server("scale", workers=2)
    with httpx.Client() as client:
        results = [
            client.post(server.v1_url, json={"instances": [[i, 0, 0]]}).json()["predictions"][0][0] for i in range(6)
        ]
    assert results == [2.0 * i + 1.0 for i in range(6)]
    assert listening_addresses(server.port) == {"127.0.0.1"}
