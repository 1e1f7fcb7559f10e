"""JSON response bodies for the fast path, byte for byte what KServe's routes write, and large ones in chunks.

KServe turns a v2 output into JSON with a Python loop over its elements and validates the result with
pydantic; a v1 answer goes through ``tolist()``: for a 1000x1000x20 array that is tens of seconds on the event
loop. Here numeric arrays are written by orjson straight from numpy, a chunk of ``CHUNK`` elements per call,
in the text KServe's own route would write for the same answer: a v2 output's floats as the Python floats
its ``to_rest()`` makes (float64 text), a large v1 array (``NotebookModel`` hands it over as an array, not a
list) as orjson writes numpy (what KServe's ``ORJSONResponse`` does with it). Each call is one stretch of C
code holding the GIL: between chunks the event loop gets it back, so a body encoded on a worker thread
(``LARGE`` elements and more) leaves health checks answering.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

CHUNK = 1 << 16
"""elements per orjson call (a few milliseconds)"""
LARGE = 1 << 17
"""from this many elements, a body is encoded off the event loop"""
NUMERIC_KINDS = "biuf"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def elements(response: Any) -> int:
    """How many array elements the answer carries (0 when it holds no arrays)."""
    if isinstance(response, dict):
        predictions = response.get("predictions")
        return predictions.size if isinstance(predictions, np.ndarray) else 0
    return sum(output.data.size for output in getattr(response, "outputs", ()) if isinstance(output.data, np.ndarray))


def v1_body(response: Any) -> bytes:
    predictions = response.get("predictions") if isinstance(response, dict) else None
    if isinstance(predictions, np.ndarray) and _plain(predictions, v1=True) and len(response) == 1:
        return b'{"predictions":' + b"".join(array_json(predictions, widen=False)) + b"}"
    return dumps(response)


def v2_body(response: Any) -> bytes:
    """The JSON KServe's v2 route writes for an ``InferResponse`` (its pydantic model, null fields included)."""
    if all(isinstance(output.data, np.ndarray) and _plain(output.data) for output in response.outputs):
        head = {
            "model_name": response.model_name,
            "model_version": response.model_version,
            "id": response.id,
            "parameters": response.parameters or None,
        }
        parts = [dumps(head)[:-1], b',"outputs":[']
        for index, output in enumerate(response.outputs):
            described = {
                "name": output.name,
                "shape": output.shape,
                "datatype": output.datatype,
                "parameters": output.parameters or None,
            }
            parts += [b"," if index else b"", dumps(described)[:-1], b',"data":']
            parts += array_json(output.data.reshape(-1))
            parts.append(b"}")
        parts.append(b"]}")
        return b"".join(parts)
    rest, _ = response.to_rest()
    return dumps(
        {
            "model_name": rest["model_name"],
            "model_version": rest.get("model_version"),
            "id": rest["id"],
            "parameters": rest.get("parameters"),
            "outputs": [
                {
                    "name": output["name"],
                    "shape": output["shape"],
                    "datatype": output["datatype"],
                    "parameters": output.get("parameters"),
                    "data": output["data"],
                }
                for output in rest["outputs"]
            ],
        }
    )


def array_json(array: Any, widen: bool = True) -> list[bytes]:
    """``array`` as nested JSON lists, in pieces of at most ``CHUNK`` elements each; ``widen``: floats as float64."""
    if array.ndim == 0:
        return [dumps(array.item())]
    if array.size <= CHUNK:
        return [dumps(_ready(array, widen))]
    row = array.size // len(array)
    parts = [b"["]
    if row > CHUNK:
        for index in range(len(array)):
            parts += [b"," if index else b"", *array_json(array[index], widen)]
    else:
        step = CHUNK // max(row, 1)
        for start in range(0, len(array), step):
            parts += [b"," if start else b"", dumps(_ready(array[start : start + step], widen))[1:-1]]
    parts.append(b"]")
    return parts


def _plain(array: Any, v1: bool = False) -> bool:
    """Numbers orjson writes as KServe would (v2 JSON refuses FP16 in KServe's own to_rest: that path says so)."""
    native = array.dtype.kind in NUMERIC_KINDS and array.dtype.byteorder in "=|"
    return native and (v1 or array.dtype != np.float16)


def _ready(array: Any, widen: bool) -> Any:
    """C-contiguous (orjson's requirement); with ``widen``, floats as float64 (Python's float text)."""
    if widen and array.dtype.kind == "f" and array.dtype != np.float64:
        return array.astype(np.float64, order="C")
    return array if array.flags.c_contiguous else array.copy(order="C")
