"""A list ``example_input`` of numeric rows gets an array's spec; requests are checked against it and handed to
``predict`` as lists. The oracle is numpy's own reading of the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kserve.errors import InvalidInput

from jupyter_deploy.runtime.codec import to_input
from jupyter_deploy.runtime.spec import spec_of
from jupyter_deploy.runtime.tables import feature_width


@pytest.mark.parametrize(
    ("example", "spec"),
    [
        (np.arange(12.0).reshape(4, 3).tolist(), {"kind": "list", "dtype": "float64", "shape": [-1, 3]}),
        ([[1, 2], [3, 4]], {"kind": "list", "dtype": "int64", "shape": [-1, 2]}),
        ([[1, 2.5]], {"kind": "list", "dtype": "float64", "shape": [-1, 2]}),
        ([0.5, 1.5], {"kind": "list", "dtype": "float64", "shape": [-1]}),
        (np.zeros((2, 3, 4)).tolist(), {"kind": "list", "dtype": "float64", "shape": [-1, 3, 4]}),
        # not an array: passed on unchecked, as before
        ([[1, 2], [3]], {"kind": "list"}),
        (["good movie", "bad film"], {"kind": "list"}),
        ([[True, False]], {"kind": "list"}),
        ([[1, "a"]], {"kind": "list"}),
        ([], {"kind": "list"}),
        ([[]], {"kind": "list"}),
        ([2**70], {"kind": "list"}),
        ((1, 2), {"kind": "list"}),
    ],
)
def test_the_spec_of_a_list_is_its_arrays_when_it_is_one(example: Any, spec: dict[str, Any]) -> None:
    assert spec_of(example) == spec
    if "shape" in spec:
        array = np.asarray(example)
        assert spec["shape"][1:] == list(array.shape[1:]) and spec["dtype"] == str(array.dtype)


def test_requests_are_checked_like_the_array_and_arrive_as_lists() -> None:
    spec = spec_of([[1.0, 2.0, 3.0]])
    assert to_input([[1, 2, 3], [4, 5, 6]], spec) == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert to_input(np.ones((2, 3), dtype=np.float32), spec) == [[1.0] * 3] * 2  # a v2 tensor
    with pytest.raises(InvalidInput, match=r"^expected inputs of shape \[N, 3\], got \[1, 2\]$"):
        to_input([[1.0, 2.0]], spec)
    with pytest.raises(InvalidInput, match=r"cannot be read as a float64 array: could not convert"):
        to_input([["a", "b", "c"]], spec)
    assert feature_width(spec) == 3
    assert to_input(["x", 1], spec_of(["x", 1])) == ["x", 1]  # a list that is no array passes unchanged


def test_an_integer_spec_refuses_fractions_instead_of_cutting_them() -> None:
    for spec in (spec_of([[1, 2]]), {"kind": "numpy", "dtype": "int64", "shape": [-1, 2]}):
        assert np.asarray(to_input([[1.0, 2.0]], spec)).tolist() == [[1, 2]]
        with pytest.raises(InvalidInput, match=r"whole numbers \(int64\)"):
            to_input([[1.5, 2.0]], spec)
