"""Large arrays written in chunks read back as the arrays themselves, in KServe's text for them."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from jupyter_deploy.runtime import bodies

SHAPES = [
    (0,),
    (1,),
    (0, 3),
    (5,),
    (bodies.CHUNK * 2 + 7,),
    (3, bodies.CHUNK + 1),
    (70_001, 3),
    (2, 3, bodies.CHUNK // 2 + 5),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(shape) for shape in SHAPES])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8", "bool", "float16"])
def test_chunks_join_into_the_array(shape: tuple[int, ...], dtype: str) -> None:
    array = (np.arange(int(np.prod(shape)), dtype=np.float64) / 7 - 3).reshape(shape).astype(dtype)
    widened = b"".join(bodies.array_json(array))
    assert widened == orjson.dumps(array.tolist())  # v2: the Python floats KServe's to_rest() writes
    native = b"".join(bodies.array_json(array, widen=False))
    assert native == orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)  # v1: what ORJSONResponse writes
    assert np.array_equal(np.asarray(json.loads(native), dtype=dtype).reshape(shape), array)


def test_a_strided_array_is_written_in_its_logical_order() -> None:
    array = np.arange(bodies.CHUNK * 3, dtype=np.float32).reshape(3, -1).T[::2]
    assert b"".join(bodies.array_json(array)) == orjson.dumps(array.tolist())
