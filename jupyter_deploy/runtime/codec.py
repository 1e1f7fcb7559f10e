"""Requests to predict() inputs and outputs back to responses, for KServe's v1 and v2 protocols.

What ``predict`` receives is decided by ``example_input`` (its ``TensorSpec``): a torch tensor, a numpy
array, or the JSON list itself. Anything that does not fit raises ``InvalidInput`` (HTTP 400) with a
message that names the problem.
"""

from __future__ import annotations

import uuid
from typing import Any

from kserve.errors import InvalidInput

from . import frames
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
    if isinstance(payload, (bytes, str)):  # KServe hands over the body unread when its Content-Type is not JSON
        raise InvalidInput("the request body was not read as JSON: send it with 'Content-Type: application/json'")
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
    if spec.get("kind") == "dataframe":
        from .frames import decode_frame

        return decode_frame(payload, spec)
    rows, _ = request_rows(payload)
    return to_input(rows, spec, device)


def to_input(rows: Any, spec: dict[str, Any], device: Any = None) -> Any:
    import numpy as np

    kind = spec.get("kind", "json")
    if kind == "json" or (kind == "list" and not spec.get("dtype")):
        return _text(rows.tolist()) if isinstance(rows, np.ndarray) else rows
    dtype = spec.get("dtype") or "float32"
    array = _array(rows, dtype)
    expected = spec.get("shape")
    if expected is not None:
        _check_shape(list(array.shape), expected)
    if kind == "numpy":
        return array
    if kind == "list":  # rows of numbers, checked like an array, handed over as the list the example was
        return array.tolist()
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device) if device is not None else tensor


def _array(rows: Any, dtype: str) -> Any:
    """``rows`` as a ``dtype`` array; an integer dtype takes whole numbers only (1.5 is refused, not cut to 1)."""
    import numpy as np

    try:
        if np.dtype(dtype).kind in "iu":
            parsed = np.asarray(rows)
            if parsed.dtype.kind == "f" and not (np.isfinite(parsed).all() and (parsed == np.round(parsed)).all()):
                raise InvalidInput(f"inputs must be whole numbers ({dtype}), like the example's")
            if parsed.dtype.kind not in "iufb":
                raise ValueError(f"values of type {parsed.dtype} are not numbers")
            return parsed.astype(dtype)
        return np.asarray(rows, dtype=dtype)
    except InvalidInput:
        raise
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidInput(f"inputs cannot be read as a {dtype} array: {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _text(value: Any) -> Any:
    """A v2 BYTES tensor's items as str, the way v1 JSON carries text (binary requests give bytes)."""
    if isinstance(value, list):
        return [_text(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("a BYTES input is not valid UTF-8 text") from None
    return value


def _bytes_ready(array: Any) -> Any:
    """Text as KServe's BYTES output wants it (an object array); containers have no v2 form."""
    if array.dtype.kind in "US":
        return array.astype(object)
    if array.dtype.kind == "O" and any(isinstance(item, (dict, list, tuple)) for item in array.flat):
        raise InvalidInput(
            "predict returned dicts or nested lists, which a v2 tensor cannot carry: return numbers or strings, "
            "or call the v1 endpoint"
        )
    return array


def _check_shape(actual: list[int], expected: list[int]) -> None:
    if len(actual) != len(expected) or any(e not in (-1, a) for a, e in zip(actual, expected, strict=True)):
        shown = ["N" if e == -1 else str(e) for e in expected]
        raise InvalidInput(f"expected inputs of shape [{', '.join(shown)}], got {actual}")


def to_numpy(outputs: Any) -> Any:
    """Outputs as a numpy array when they are numeric, else unchanged (JSON-able values)."""
    import numpy as np

    if hasattr(outputs, "detach"):
        return outputs.detach().cpu().numpy()
    if frames.is_pandas(outputs):  # a DataFrame as records, a Series as a list
        return frames.jsonable(outputs)
    if isinstance(outputs, np.ndarray):
        return outputs
    return outputs


def encode(outputs: Any, payload: Any, model_name: str) -> Any:
    import numpy as np

    _, protocol = (None, "v1") if isinstance(payload, dict) else (None, "v2")
    if protocol == "v2" and frames.is_pandas(outputs):
        return _v2_response(frames.v2_arrays(outputs), payload, model_name)
    values = to_numpy(outputs)
    if protocol == "v1":
        return {"predictions": values.tolist() if isinstance(values, np.ndarray) else values}
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    return _v2_response([("output-0", array)], payload, model_name)


def _v2_response(arrays: list[tuple[str, Any]], payload: Any, model_name: str) -> Any:
    """One v2 output per (name, numpy array)."""
    from kserve import InferOutput, InferResponse
    from kserve.utils.numpy_codec import from_np_dtype

    outputs = []
    for name, array in arrays:
        array = _bytes_ready(array)
        datatype = from_np_dtype(array.dtype)
        if datatype is None:
            raise InvalidInput(f"predict returned values of type {array.dtype}, which v2 cannot carry")
        # the array itself: KServe's to_rest() writes it as JSON, or as raw bytes when the request asked for
        # binary outputs (``binary_data_output``, or ``binary_data`` on a requested output)
        output = InferOutput(name=name, shape=list(array.shape), datatype=datatype, data=array)
        if getattr(payload, "from_grpc", False):
            # gRPC answers in raw bytes; KServe's to_grpc() tests an array's truth value on the way (ValueError)
            output.set_data_from_numpy(array, binary_data=True)
        outputs.append(output)
    return InferResponse(
        response_id=getattr(payload, "id", None) or str(uuid.uuid4()),
        model_name=model_name,
        infer_outputs=outputs,
        use_binary_outputs=bool(getattr(payload, "use_binary_outputs", False)),
        requested_outputs=getattr(payload, "request_outputs", None),
    )
