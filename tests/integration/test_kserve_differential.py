"""Plain ``kserve.ModelServer`` is the oracle: the same requests to it and to our server get the same answers.

One model object (a ``NotebookModel`` whose pipeline doubles and shifts rows of 3 features, and whose first
value picks a misbehaviour: raise, NotImplementedError, SystemExit, a set, a stream) is registered in two
``ModelServer`` s. KServe's side is a fresh FastAPI app built by KServe's own ``RESTServer`` steps (middleware,
routes, error handlers) and nothing else; ours is ``server.guarded_rest_server``: the guard and the fast path in
front of an app built the same way. Both are driven in this process over ASGI. Statuses, content types and
bodies must match, ids and timings normalised. Where we answer differently on purpose the case says so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from jupyter_deploy.runtime.model import NotebookModel

pytestmark = pytest.mark.server

NAME = "probe"
V1 = f"/v1/models/{NAME}:predict"
V2 = f"/v2/models/{NAME}/infer"
JSON = {"content-type": "application/json"}
INT64_MAX = 2**63 - 1


class Probe(NotebookModel, deployment=NAME):
    """x * 2 + 1 on rows of 3 float32 features; the first value chooses a misbehaviour."""

    def load_example_input(self) -> Any:
        return np.zeros((2, 3), dtype=np.float32)

    def run(self, inputs: Any) -> Any:
        first = float(inputs.flat[0]) if inputs.size else 0.0
        if first == -1:
            raise ValueError("negative inputs are not supported")
        if first == -2:
            raise NotImplementedError("this input is not handled yet")
        if first == -3:
            raise SystemExit(3)
        if first == -4:
            raise KeyboardInterrupt
        if first == -5:
            return {1, 2}
        if first == -6:
            return stream(inputs)
        if first == -7:  # over bodies.LARGE: written in chunks, off the event loop
            return (np.arange(400 * 400, dtype=np.float32) / 7).reshape(400, 400)
        return inputs * 2.0 + 1.0


async def stream(inputs: Any) -> AsyncIterator[str]:
    for row in inputs.tolist():
        yield json.dumps(row) + "\n"


def kserve_app() -> Any:
    """A FastAPI app as ``kserve.model_server`` creates it."""
    from fastapi import FastAPI
    from fastapi.responses import ORJSONResponse

    return FastAPI(title="KServe ModelServer", docs_url=None, redoc_url=None, default_response_class=ORJSONResponse)


@pytest.fixture(scope="module")
def model() -> Probe:
    probe = Probe()
    probe.load()
    probe.enable_latency_logging = False
    return probe


@pytest.fixture(scope="module")
def stacks(model: Probe) -> dict[str, Any]:
    from kserve import ModelServer
    from kserve.protocol.rest.server import RESTServer

    from jupyter_deploy.runtime.server import guarded_rest_server

    oracle_server = ModelServer(http_port=0, enable_grpc=False, workers=1)
    oracle_server.register_model(model)
    oracle = kserve_app()
    plain = RESTServer("kserve.model_server:app", oracle_server.dataplane, None, 0)
    plain._add_middlewares(oracle)
    plain._register_endpoints(oracle)
    plain._add_exception_handlers(oracle)

    ours_server = ModelServer(http_port=0, enable_grpc=False, workers=1)
    ours_server.register_model(model)
    rest = guarded_rest_server(kserve_app(), ours_server, model, 0, None, "asyncio")
    rest.create_application()
    return {"kserve": oracle, "ours": rest.config.app}


def call(app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    import httpx

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, content=body, headers=headers or {})

    return asyncio.run(go())


def normalised(response: Any) -> tuple[int, str | None, Any]:
    """Status, content type and body, with generated ids replaced."""
    content_type = response.headers.get("content-type")
    length = response.headers.get("inference-header-content-length")
    raw = response.content
    if length is not None:
        body: Any = {"json": json.loads(raw[: int(length)]), "binary": raw[int(length) :].hex()}
        body["json"]["id"] = "ID" if body["json"].get("id") else None
    else:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if isinstance(body, dict) and isinstance(body.get("id"), str) and body["id"] != "r1":
            body["id"] = "ID"
        if isinstance(body, dict) and "specversion" in body:
            body["time"] = "TIME"
    return response.status_code, content_type, body


def v2(*inputs: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({"id": "r1", "inputs": list(inputs), **fields}).encode()


def tensor(data: Any, shape: Any = (1, 3), datatype: str = "FP32", **fields: Any) -> dict[str, Any]:
    return {"name": "x", "shape": list(shape), "datatype": datatype, "data": data, **fields}


def binary_request(rows: Any, outputs: bool = False, header: dict[str, Any] | None = None) -> tuple[bytes, int]:
    """A v2 body in the binary tensor extension: JSON header, then the tensor's bytes (what tritonclient sends)."""
    array = np.asarray(rows, dtype=np.float32)
    raw = array.tobytes()
    head = header or {
        "inputs": [
            {"name": "x", "shape": list(array.shape), "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
        ],
        **({"outputs": [{"name": "output-0", "parameters": {"binary_data": True}}]} if outputs else {}),
    }
    text = json.dumps(head).encode()
    return text + raw, len(text)


BINARY, BINARY_LENGTH = binary_request([[1, 2, 3]], outputs=True)
BINARY_IN, BINARY_IN_LENGTH = binary_request([[1, 2, 3], [4, 5, 6]])
CLOUDEVENT = {"ce-specversion": "1.0", "ce-id": "e1", "ce-source": "test", "ce-type": "predict", **JSON}
OUT_OF_RANGE = str(INT64_MAX + 1)

CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("v1 rows", V1, b'{"instances": [[1, 2, 3], [0.5, 0, 10]]}', JSON),
    ("v1 no content type", V1, b'{"instances": [[1, 2, 3]]}', {}),
    ("v1 text/plain", V1, b'{"instances": [[1, 2, 3]]}', {"content-type": "text/plain"}),
    ("v1 octet-stream", V1, b'{"instances": [[1, 2, 3]]}', {"content-type": "application/octet-stream"}),
    ("v1 cloudevents+json", V1, b'{"instances": [[1, 2, 3]]}', {"content-type": "application/cloudevents+json"}),
    ("v1 binary cloudevent", V1, b'{"instances": [[1, 2, 3]]}', CLOUDEVENT),
    (
        "v1 structured cloudevent",
        V1,
        json.dumps(
            {"specversion": "1.0", "id": "e", "source": "s", "type": "t", "data": {"instances": [[1, 2, 3]]}}
        ).encode(),
        {"content-type": "application/cloudevents+json"},
    ),
    ("v1 malformed", V1, b'{"instances": [[1, 2', JSON),
    ("v1 empty body", V1, b"", JSON),
    ("v1 nested too deep", V1, b'{"instances": [[[1, 2, 3]]]}', JSON),
    ("v1 wrong shape", V1, b'{"instances": [[1, 2]]}', JSON),
    ("v1 strings", V1, b'{"instances": [["a", "b", "c"]]}', JSON),
    ("v1 out of int64 range", V1, f'{{"instances": [[{OUT_OF_RANGE}, 1, 2]]}}'.encode(), JSON),
    ("v1 predict raises", V1, b'{"instances": [[-1, 2, 3]]}', JSON),
    ("v1 NotImplementedError", V1, b'{"instances": [[-2, 2, 3]]}', JSON),
    ("v1 SystemExit", V1, b'{"instances": [[-3, 2, 3]]}', JSON),
    ("v1 KeyboardInterrupt", V1, b'{"instances": [[-4, 2, 3]]}', JSON),
    ("v1 returns a set", V1, b'{"instances": [[-5, 2, 3]]}', JSON),
    ("v1 stream", V1, b'{"instances": [[-6, 2, 3], [1, 2, 3]]}', JSON),
    ("v2 rows", V2, v2(tensor([1, 2, 3, 0.5, 0, 10], shape=(2, 3))), JSON),
    ("v2 text/plain", V2, v2(tensor([1, 2, 3])), {"content-type": "text/plain"}),
    ("v2 nested data", V2, v2(tensor([[1, 2, 3]])), JSON),
    ("v2 INT64", V2, v2(tensor([1, 2, 3], datatype="INT64")), JSON),
    ("v2 INT64 max", V2, v2(tensor([INT64_MAX, 1, 2], datatype="INT64")), JSON),
    ("v2 INT64 out of range", V2, v2(tensor([INT64_MAX + 1, 1, 2], datatype="INT64")), JSON),
    ("v2 INT64 far out of range", V2, v2(tensor([2**70, 1, 2], datatype="INT64")), JSON),
    ("v2 INT32 out of range", V2, v2(tensor([2**40, 1, 2], datatype="INT32")), JSON),
    ("v2 UINT8 negative", V2, v2(tensor([-1, 1, 2], datatype="UINT8")), JSON),
    ("v2 data short", V2, v2(tensor([1, 2])), JSON),
    ("v2 strings", V2, v2(tensor([1, 2, "x"])), JSON),
    ("v2 no datatype", V2, v2({"name": "x", "shape": [1, 3], "data": [1, 2, 3]}), JSON),
    ("v2 string shape", V2, v2(tensor([1, 2, 3], shape=("a", "3"))), JSON),
    ("v2 no inputs key", V2, b'{"id": "r1"}', JSON),
    ("v2 inputs not a list", V2, b'{"id": "r1", "inputs": {"name": "x"}}', JSON),
    ("v2 malformed", V2, b'{"inputs": [', JSON),
    ("v2 numeric id", V2, json.dumps({"id": 7, "inputs": [tensor([1, 2, 3])]}).encode(), JSON),
    ("v2 two inputs", V2, v2(tensor([1, 2, 3]), {**tensor([1]), "name": "y", "shape": [1]}), JSON),
    ("v2 binary_data_output", V2, v2(tensor([1, 2, 3]), parameters={"binary_data_output": True}), JSON),
    (
        "v2 requested binary output",
        V2,
        v2(tensor([1, 2, 3]), outputs=[{"name": "output-0", "parameters": {"binary_data": True}}]),
        JSON,
    ),
    ("v2 requested json output", V2, v2(tensor([1, 2, 3]), outputs=[{"name": "output-0"}]), JSON),
    ("v2 requested unknown output", V2, v2(tensor([1, 2, 3]), outputs=[{"name": "nope"}]), JSON),
    ("v2 binary", V2, BINARY, {"inference-header-content-length": str(BINARY_LENGTH)}),
    ("v2 binary input json output", V2, BINARY_IN, {"inference-header-content-length": str(BINARY_IN_LENGTH)}),
    (
        "v2 binary octet-stream",
        V2,
        BINARY,
        {"inference-header-content-length": str(BINARY_LENGTH), "content-type": "application/octet-stream"},
    ),
    (
        "v2 binary without its bytes",
        V2,
        BINARY[:BINARY_LENGTH],
        {"inference-header-content-length": str(BINARY_LENGTH)},
    ),
    ("v2 binary header without inputs", V2, b'{"id": "r1"}', {"inference-header-content-length": "12"}),
    ("v2 binary length not a number", V2, BINARY, {"inference-header-content-length": "x"}),
    ("v2 binary header cut", V2, BINARY, {"inference-header-content-length": "5"}),
    ("v2 binary cloudevent", V2, v2(tensor([1, 2, 3])), CLOUDEVENT),
    ("v2 predict raises", V2, v2(tensor([-1, 2, 3])), JSON),
    ("v2 NotImplementedError", V2, v2(tensor([-2, 2, 3])), JSON),
    ("v2 SystemExit", V2, v2(tensor([-3, 2, 3])), JSON),
    ("v2 returns a set", V2, v2(tensor([-5, 2, 3])), JSON),
]


CASES += [
    ("v2 INT64 below range", V2, v2(tensor([-(2**63) - 1, 1, 2], datatype="INT64")), JSON),
    ("v2 UINT64 beyond range", V2, v2(tensor([2**64 + 1, 1, 2], datatype="UINT64")), JSON),
]

LARGE_V1 = b'{"instances": [[-7, 2, 3]]}'
CASES += [
    ("v1 large", V1, LARGE_V1, JSON),
    ("v1 large binary cloudevent", V1, LARGE_V1, CLOUDEVENT),
    ("v1 large structured cloudevent", V1, LARGE_V1, {"content-type": "application/cloudevents+json"}),
    ("v2 large", V2, v2(tensor([-7, 2, 3])), JSON),
    ("v2 large binary output", V2, v2(tensor([-7, 2, 3]), parameters={"binary_data_output": True}), JSON),
    ("v2 large requested output", V2, v2(tensor([-7, 2, 3]), outputs=[{"name": "output-0"}]), JSON),
]

INTENDED = {
    # KServe's own decoding fails with a 500 (ValueError, KeyError) on these; a bad request is a 400
    "v2 binary without its bytes": "announces 12 bytes of binary data, but only 0 follow",
    "v2 binary header without inputs": "'inputs' list",
    "v2 binary length not a number": "must be a number of bytes",
}


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [case[1:] for case in CASES if case[0] not in INTENDED],
    ids=[case[0] for case in CASES if case[0] not in INTENDED],
)
def test_answers_as_plain_kserve_does(stacks: dict[str, Any], path: str, body: bytes, headers: dict[str, str]) -> None:
    expected = normalised(call(stacks["kserve"], "POST", path, body, headers))
    assert normalised(call(stacks["ours"], "POST", path, body, headers)) == expected
    assert expected[0] in (200, 400, 422, 500, 501)


@pytest.mark.parametrize(("path", "body", "headers"), [c[1:] for c in CASES if c[0] in INTENDED], ids=list(INTENDED))
def test_malformed_binary_requests_are_400_where_kserve_fails_with_500(
    stacks: dict[str, Any], request: pytest.FixtureRequest, path: str, body: bytes, headers: dict[str, str]
) -> None:
    words = INTENDED[request.node.callspec.id]
    assert normalised(call(stacks["kserve"], "POST", path, body, headers))[0] == 500
    status, content_type, answer = normalised(call(stacks["ours"], "POST", path, body, headers))
    assert (status, content_type) == (400, "application/json") and words in answer["error"], answer


def test_the_answers_are_what_the_model_computes(stacks: dict[str, Any]) -> None:
    """The oracle is only an oracle if it answers: the comparisons above include real predictions."""
    rows = [[1.0, 2.0, 3.0], [0.5, 0.0, 10.0]]
    expected = (np.asarray(rows, dtype=np.float32) * 2 + 1).tolist()
    _, _, v1_answer = normalised(call(stacks["ours"], "POST", V1, json.dumps({"instances": rows}).encode()))
    assert v1_answer == {"predictions": expected}
    _, _, binary = normalised(
        call(stacks["ours"], "POST", V2, BINARY, {"inference-header-content-length": str(BINARY_LENGTH)})
    )
    assert np.frombuffer(bytes.fromhex(binary["binary"]), dtype=np.float32).tolist() == [3.0, 5.0, 7.0]
    status, _, text = normalised(call(stacks["ours"], "POST", V1, b'{"instances": [[-6, 2, 3], [1, 2, 3]]}', JSON))
    assert (status, text) == (200, "[-6.0, 2.0, 3.0]\n[1.0, 2.0, 3.0]\n")


FAILURES = [
    (-3, "predict failed: SystemExit: 3"),
    (-4, "predict failed: KeyboardInterrupt"),
    (-5, "predict returned a set"),
]


@pytest.mark.parametrize(("first", "words"), FAILURES, ids=["SystemExit", "KeyboardInterrupt", "a set"])
@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_a_failing_predict_is_a_json_500_on_both_protocols(
    stacks: dict[str, Any], protocol: str, first: int, words: str
) -> None:
    path, body = (
        (V1, json.dumps({"instances": [[first, 2, 3]]}).encode())
        if protocol == "v1"
        else (V2, v2(tensor([first, 2, 3])))
    )
    status, content_type, answer = normalised(call(stacks["ours"], "POST", path, body, JSON))
    assert (status, content_type) == (500, "application/json") and answer["error"].startswith(words), answer
    assert normalised(call(stacks["ours"], "POST", V1, b'{"instances": [[1, 2, 3]]}', JSON))[0] == 200


def test_a_stream_is_refused_on_v2_with_a_message(stacks: dict[str, Any]) -> None:
    status, _, answer = normalised(call(stacks["ours"], "POST", V2, v2(tensor([-6, 2, 3])), JSON))
    assert status == 500 and "only the v1 endpoint" in answer["error"]


MORE_THAN_KSERVE = [
    # KServe hands a JSON Content-Type with parameters to the model as bytes (only the bare type is JSON to it)
    ("charset", V1, b'{"instances": [[1, 2, 3]]}', {"content-type": "application/json; charset=utf-8"}),
    # tritonclient's JSON requests carry no Content-Type, which KServe's v2 route takes for a binary body
    ("v2 JSON without content type", V2, v2(tensor([1, 2, 3])), {}),
]


@pytest.mark.parametrize(
    ("path", "body", "headers"), [case[1:] for case in MORE_THAN_KSERVE], ids=[case[0] for case in MORE_THAN_KSERVE]
)
def test_json_kserve_would_not_read_as_json_is_answered(
    stacks: dict[str, Any], path: str, body: bytes, headers: dict[str, str]
) -> None:
    """More than KServe accepts, on purpose: the body is JSON, and KServe's own reading of it says so."""
    assert normalised(call(stacks["kserve"], "POST", path, body, headers))[0] == 400
    ours = normalised(call(stacks["ours"], "POST", path, body, headers))
    assert ours == normalised(call(stacks["kserve"], "POST", path, body, JSON))
    assert ours[0] == 200


@pytest.mark.parametrize(
    "path", ["/", "/v2", "/v2/health/live", "/v2/health/ready", "/v2/models", f"/v2/models/{NAME}/ready",
             f"/v1/models/{NAME}", "/v1/models", "/v2/models/nope", f"/v2/models/{NAME}/versions/1"]
)  # fmt: skip
def test_other_routes_as_kserve(stacks: dict[str, Any], path: str) -> None:
    assert normalised(call(stacks["ours"], "GET", path)) == normalised(call(stacks["kserve"], "GET", path))


def test_model_metadata_has_no_null_versions(stacks: dict[str, Any]) -> None:
    path = f"/v2/models/{NAME}"
    status, content_type, theirs = normalised(call(stacks["kserve"], "GET", path))
    assert theirs["versions"] is None  # what the v2 protocol does not allow: a list of strings, or nothing
    ours = normalised(call(stacks["ours"], "GET", path))
    assert ours == (status, content_type, {key: value for key, value in theirs.items() if key != "versions"})
    assert ours[2]["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 3]}]


def test_kserves_three_timings_count_every_predict(stacks: dict[str, Any]) -> None:
    def counts() -> list[float]:
        text = call(stacks["ours"], "GET", "/metrics").text
        found = []
        for step in ("preprocess", "predict", "postprocess"):
            line = next(
                line
                for line in text.splitlines()
                if line.startswith(f'request_{step}_seconds_count{{model_name="{NAME}"}}')
            )
            found.append(float(line.split()[-1]))
        return found

    before = counts()
    for body in (b'{"instances": [[1, 2, 3]]}', b'{"instances": [[1, 2, 3], [4, 5, 6]]}'):
        assert call(stacks["ours"], "POST", V1, body, JSON).status_code == 200
    assert call(stacks["ours"], "POST", V2, v2(tensor([1, 2, 3])), JSON).status_code == 200
    assert [after - earlier for after, earlier in zip(counts(), before, strict=True)] == [3, 3, 3]


class Large(NotebookModel, deployment="large"):
    """Answers a 1000x1000x5 float32 array (5 million numbers, about 100 MB of JSON)."""

    def load_example_input(self) -> Any:
        return np.zeros((1, 3), dtype=np.float32)

    def run(self, inputs: Any) -> Any:
        return np.broadcast_to(inputs[0, 0] + np.arange(5, dtype=np.float32) / 4, (1000, 1000, 5)).copy()


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_a_large_answer_leaves_health_checks_answering(protocol: str) -> None:
    from kserve import ModelServer

    from jupyter_deploy.runtime.server import guarded_rest_server

    model = Large()
    model.load()
    model.enable_latency_logging = False
    server = ModelServer(http_port=0, enable_grpc=False, workers=1)
    server.register_model(model)
    rest = guarded_rest_server(kserve_app(), server, model, 0, None, "asyncio")
    rest.create_application()
    if protocol == "v1":
        path, body = "/v1/models/large:predict", b'{"instances": [[0.5, 0, 0]]}'
    else:
        path, body = "/v2/models/large/infer", json.dumps({"inputs": [tensor([0.5, 0, 0])]}).encode()

    async def go() -> tuple[Any, list[float]]:
        import httpx

        transport = httpx.ASGITransport(app=rest.config.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
            task = asyncio.ensure_future(client.post(path, content=body, headers=JSON))
            waits = []  # between the starts of consecutive health checks, 10 ms apart when the loop is free
            clock = asyncio.get_running_loop().time
            while not task.done():
                start = clock()
                assert (await client.get("/v2/health/live")).status_code == 200
                await asyncio.sleep(0.01)
                waits.append(clock() - start)
            return await task, waits

    response, waits = asyncio.run(go())
    assert response.status_code == 200
    answer = response.json()
    data = answer["predictions"] if protocol == "v1" else answer["outputs"][0]["data"]
    array = np.asarray(data, dtype=np.float32)
    expected = model.run(np.array([[0.5, 0, 0]], dtype=np.float32))
    assert np.array_equal(array.reshape(expected.shape), expected)
    if protocol == "v2":
        assert answer["outputs"][0]["shape"] == [1000, 1000, 5] and answer["outputs"][0]["datatype"] == "FP32"
    assert len(waits) > 3 and max(waits) < 0.5, f"health checks waited up to {max(waits):.2f} s"
