"""Bad input is a 400 that says what to fix, never a 500, and the server keeps answering: a list where a
DataFrame column takes one value, JSON nested about a thousand levels deep (orjson reads up to 1,024; Python's
own readers stop near 1,000), on the fast path and on KServe's routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.server

RECORD = {"age": 30.0, "visits": 2, "member": True, "plan": "pro"}


@pytest.fixture(scope="module")
def servers(serve_root: Path) -> Iterator[dict[str, Any]]:
    from jupyter_deploy.serving.local import start_server

    started = {name: start_server(serve_root, name, port=0) for name in ("frame", "words")}
    yield started
    for server in started.values():
        server.stop()


@pytest.mark.parametrize("column", ["age", "visits", "member"])
@pytest.mark.parametrize("form", ["records", "split"])
def test_a_list_in_a_dataframe_column_is_a_400_naming_it(servers: dict[str, Any], column: str, form: str) -> None:
    """Every row with a list there (numpy reads them as a second dimension), or one row among plain ones."""
    server = servers["frame"]
    record = {**RECORD, column: [1, 2]}
    for rows in ([record], [record, record], [RECORD, record]):
        if form == "records":
            body: Any = {"instances": rows}
        else:
            body = {"instances": {"columns": list(RECORD), "data": [list(row.values()) for row in rows]}}
        answer = httpx.post(server.v1_url, json=body)
        assert answer.status_code == 400, answer.text
        assert f"column {column!r}" in answer.json()["error"]
    good = httpx.post(server.v1_url, json={"instances": [RECORD]})
    assert good.json() == {"predictions": [30.0 * 2 + 2 + 100]}


def nested(depth: int, leaf: str) -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize(
    ("protocol", "depth"), [("v2", 900), ("v2", 1000), ("v2", 1030), ("v1", 1030), ("v2", 5000), ("v1", 5000)]
)
def test_deeply_nested_data_is_a_400(servers: dict[str, Any], protocol: str, depth: int) -> None:
    """A v2 BYTES tensor nested 900 deep is read (KServe's schema and JSON reader take it) and cannot be turned
    into text; deeper, the JSON readers refuse it. (A v1 list of texts reaches predict as the JSON it is.)"""
    server = servers["words"]
    if protocol == "v1":
        url, body = server.v1_url, '{"instances": ' + nested(depth, '"a"') + "}"
    else:
        tensor = '{"name": "x", "shape": [1], "datatype": "BYTES", "data": ' + nested(depth, '"a"') + "}"
        url, body = server.v2_url, '{"inputs": [' + tensor + "]}"
    answer = httpx.post(url, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text[:300]
    assert answer.headers["content-type"] == "application/json"
    assert len(json.dumps(answer.json())) < 1000  # one message, not the data echoed back
    good = httpx.post(server.v1_url, json={"instances": ["a b c", "d"]})
    assert good.json() == {"predictions": [5, 1]}
