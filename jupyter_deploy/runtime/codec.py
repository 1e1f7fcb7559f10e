"""Requests to predict() inputs and outputs back to responses, for KServe's v1 and v2 protocols.

What ``predict`` receives is decided by ``example_input`` (its ``TensorSpec``): a torch tensor, a numpy
array, or the JSON list itself. Anything that does not fit raises ``InvalidInput`` (HTTP 400) with a
message that names the problem.
"""

from __future__ import annotations

import uuid
from typing import Any

from kserve.errors import InvalidInput

from .spec import spec_of

__all__ = ["decode", "encode", "spec_of", "to_input"]


def request_rows(payload: Any) -> tuple[Any, str]:
    """The request's data and its protocol ("v1" or "v2")."""
    if isinstance(payload, dict):
        for key in ("instances", "inputs"):
            if key in payload:
                rows = payload[key]
                if not isinstance(rows, list):
                    raise InvalidInput(f"'{key}' must be a list of inputs, got {type(rows).__name__}")
                return rows, "v1"
        raise InvalidInput("a v1 request is a JSON object with an 'instances' list, e.g. {\"instances\": [[...]]}")
    inputs = getattr(payload, "inputs", None)
    if inputs is None:
        raise InvalidInput(f"unsupported request body of type {type(payload).__name__}")
    if len(inputs) != 1:
        raise InvalidInput(f"this model takes exactly one input tensor, got {len(inputs)}")
    try:
        return inputs[0].as_numpy(), "v2"
    except Exception as error:  # kserve raises several types for inconsistent tensors
        raise InvalidInput(f"input tensor {inputs[0].name!r} is invalid: {error}") from None


def decode(payload: Any, spec: dict[str, Any], device: Any = None) -> Any:
    """The value ``predict`` receives for this request."""
    rows, _ = request_rows(payload)
    return to_input(rows, spec, device)


def to_input(rows: Any, spec: dict[str, Any], device: Any = None) -> Any:
    import numpy as np

    kind = spec.get("kind", "json")
    if kind in ("list", "json"):
        return rows.tolist() if isinstance(rows, np.ndarray) else rows
    dtype = spec.get("dtype") or "float32"
    try:
        array = np.asarray(rows, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"inputs cannot be read as a {dtype} array: {error}") from None
    expected = spec.get("shape")
    if expected is not None:
        _check_shape(list(array.shape), expected)
    if kind == "numpy":
        return array
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device) if device is not None else tensor


def _check_shape(actual: list[int], expected: list[int]) -> None:
    if len(actual) != len(expected) or any(e not in (-1, a) for a, e in zip(actual, expected, strict=True)):
        shown = ["N" if e == -1 else str(e) for e in expected]
        raise InvalidInput(f"expected inputs of shape [{', '.join(shown)}], got {actual}")


def to_numpy(outputs: Any) -> Any:
    """Outputs as a numpy array when they are numeric, else unchanged (JSON-able values)."""
    import numpy as np

    if hasattr(outputs, "detach"):
        return outputs.detach().cpu().numpy()
    if isinstance(outputs, np.ndarray):
        return outputs
    return outputs


def encode(outputs: Any, payload: Any, model_name: str) -> Any:
    import numpy as np

    _, protocol = (None, "v1") if isinstance(payload, dict) else (None, "v2")
    values = to_numpy(outputs)
    if protocol == "v1":
        return {"predictions": values.tolist() if isinstance(values, np.ndarray) else values}
    from kserve import InferOutput, InferResponse
    from kserve.utils.numpy_codec import from_np_dtype

    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    datatype = from_np_dtype(array.dtype)
    if datatype is None:
        raise InvalidInput(f"predict returned values of type {array.dtype}, which v2 cannot carry")
    output = InferOutput(name="output-0", shape=list(array.shape), datatype=datatype)
    output.set_data_from_numpy(array, binary_data=False)
    return InferResponse(
        response_id=getattr(payload, "id", None) or str(uuid.uuid4()),
        model_name=model_name,
        infer_outputs=[output],
    )
