"""``NotebookModel``: the ``kserve.Model`` that every generated predictor subclasses.

The subclass (rendered from the notebook) provides ``load_state(device)`` (captured artifacts, then
the load cell), ``run(inputs)`` (preprocess -> predict -> postprocess) and ``load_example_input()``;
this class turns KServe requests into ``run`` calls, off the event loop and without autograd.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import kserve
import numpy as np
from kserve.errors import InferenceError, InvalidInput

from . import codec
from .bodies import LARGE, NUMERIC_KINDS
from .dispatch import Dispatcher


def pick_device(uses_torch: bool = True) -> Any:
    """CUDA when torch sees a GPU, else CPU; None when the version does not use torch or it is missing.

    A version without torch (scikit-learn, XGBoost...) never imports it: 1-3 s of start-up for nothing.
    """
    if not uses_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _freeze_startup_objects() -> None:
    """Move everything allocated while loading (torch, kserve, the model) out of the collector's sight.

    Otherwise the first full collection under load walks millions of start-up objects and stalls every
    request in flight for a few hundred milliseconds (measured: one ~290 ms pause at the p99).
    """
    import gc

    gc.collect()
    gc.freeze()


class NotebookModel(kserve.Model):
    deployment: ClassVar[str] = "model"
    input_spec: ClassVar[dict[str, Any] | None] = None
    """None: derived from ``load_example_input()`` at load time"""
    serving_options: ClassVar[dict[str, Any]] = {}
    uses_torch: ClassVar[bool] = True
    """False: the version never imports torch (and serves on no device)"""

    def __init_subclass__(
        cls,
        deployment: str | None = None,
        input_spec: dict[str, Any] | None = None,
        serving_options: dict[str, Any] | None = None,
        uses_torch: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Generated predictors declare themselves in the class statement (no mutable class attributes)."""
        super().__init_subclass__(**kwargs)
        if deployment is not None:
            cls.deployment = deployment
        if input_spec is not None:
            cls.input_spec = input_spec
        if uses_torch is not None:
            cls.uses_torch = uses_torch
        if serving_options is not None:
            cls.serving_options = serving_options

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name or self.deployment)
        self.device: Any = None
        self.spec: dict[str, Any] | None = type(self).input_spec
        options = type(self).serving_options
        self.max_batch_size: int | None = options.get("max_batch_size")
        self.max_latency_ms: float | None = options.get("max_latency_ms")
        self._batcher: Any = None
        self._executor: Any = None
        self._dispatcher: Any = None
        self.payload_log: Any = None  # runtime/payload_log.py, when served with --log-payloads

    def configure(
        self,
        max_batch_size: int | None = None,
        max_latency_ms: float | None = None,
        payload_log: dict[str, Any] | None = None,
        **_: Any,
    ) -> NotebookModel:
        """Serving options from the command line (over the magic line's, which are the class defaults)."""
        if payload_log:
            from .payload_log import open_payload_log

            self.payload_log = open_payload_log(self, payload_log)
        if max_batch_size is not None:
            self.max_batch_size = max_batch_size
        if max_latency_ms is not None:
            self.max_latency_ms = max_latency_ms
        return self

    @property
    def batching(self) -> bool:
        return bool(self.max_batch_size and self.max_batch_size > 1)

    # -- provided by the generated subclass --------------------------------------------------------
    def load_state(self, device: Any) -> None:
        """Restore the notebook's objects (artifacts, then the load cell)."""

    def run(self, inputs: Any) -> Any:
        raise NotImplementedError

    def load_example_input(self) -> Any:
        raise NotImplementedError

    # -- KServe contract ---------------------------------------------------------------------------
    def load(self) -> bool:
        self.device = pick_device(type(self).uses_torch)
        self.load_state(self.device)
        self._move_modules_to_device()
        if self.device is not None:  # a device the notebook fixed in a literal: one line when it is not here
            from .loaders.device import check_notebook_devices

            check_notebook_devices(self._predictor_namespace())
        if self.spec is None:
            self.spec = codec.spec_of(self.load_example_input())
        from concurrent.futures import ThreadPoolExecutor

        # one inference thread: requests run in arrival order, without threads fighting over the GIL
        # (torch still uses its intra-op threads); the event loop stays free for health checks
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"jd-predict-{self.name}")
        self._dispatcher = Dispatcher(self._executor)
        if self.batching:
            self._batcher = self._make_batcher()
        _freeze_startup_objects()
        self.ready = True
        return self.ready

    def _move_modules_to_device(self) -> None:
        torch = sys.modules.get("torch")
        if torch is None or self.device is None or self.device.type == "cpu":
            return
        namespace = self._predictor_namespace()
        for name, value in list(namespace.items()):
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                namespace[name] = value.to(self.device)

    def _predictor_namespace(self) -> dict[str, Any]:
        """The generated predictor's module-level names (its ``run``'s globals when it was run without a module
        in ``sys.modules``: ``runpy.run_path``)."""
        module = sys.modules.get(type(self).__module__)
        if module is not None:
            return vars(module)
        run = vars(type(self)).get("run")
        namespace: dict[str, Any] = getattr(run, "__globals__", {})
        return namespace

    def to_device(self, value: Any) -> Any:
        """A torch tensor moved to the model's device; anything else unchanged."""
        if self.device is not None and hasattr(value, "to") and hasattr(value, "device"):
            return value.to(self.device)
        return value

    def infer(self, inputs: Any) -> Any:
        """One synchronous call of the notebook's pipeline, without autograd."""
        torch = sys.modules.get("torch")
        if torch is None:
            return self.run(inputs)
        with torch.inference_mode():
            return self.run(inputs)

    def check_batching(self) -> None:
        """At server start: refuse batching a predictor whose rows are not independent (one clear error)."""
        if not self.batching:
            return
        from .batchcheck import problem

        reason = problem(self)
        if reason:
            raise SystemExit(f"jupyter-deploy: {self.name} cannot serve with --max-batch-size: {reason}")

    def _make_batcher(self) -> Any:
        from .batching import Batcher
        from .metrics import batch_observer

        kind = (self.spec or {}).get("kind")
        if kind not in ("torch", "numpy"):
            raise RuntimeError(
                f"{self.name}: --max-batch-size needs a tensor or array example_input (this one is {kind}); "
                "serve without batching"
            )
        return Batcher(
            self.infer,
            int(self.max_batch_size or 1),
            5.0 if self.max_latency_ms is None else float(self.max_latency_ms),
            observe=batch_observer(self.name),
            dispatcher=self._dispatcher,
        )

    def validate(self, payload: Any) -> Any:
        """A DataFrame deployment also takes a split frame in v1 (``{"instances": {"columns", "data"}}``),
        which KServe's own check refuses (it wants a list); the codec validates it instead."""
        if isinstance(payload, dict) and (self.spec or {}).get("kind") == "dataframe":
            return payload
        return super().validate(payload)

    async def predict(
        self, payload: Any, headers: dict[str, str] | None = None, response_headers: dict[str, str] | None = None
    ) -> Any:
        try:
            inputs = codec.decode(payload, self.spec or {"kind": "json"}, self.device)
        except RecursionError:  # JSON nested about a thousand deep: read (orjson takes 1,024 levels), not decodable
            raise InvalidInput("the request's data is nested too deeply to be read") from None
        try:
            if self._batcher is not None:
                outputs = await self._batcher.submit(inputs)
            else:
                outputs = await self._dispatcher.call(self.infer, inputs)
        except (InvalidInput, InferenceError, NotImplementedError, asyncio.CancelledError):
            raise  # KServe's own handlers answer these (400, 500, 501); a cancelled request is gone
        except BaseException as error:
            # SystemExit/KeyboardInterrupt from the notebook's code would stop the event loop (asyncio re-raises
            # them out of the task), another BaseException would skip every handler: they are one request's
            # failure, a JSON 500 like any other
            raise InferenceError(f"predict failed: {type(error).__name__}: {error}") from error
        if self.payload_log is not None:  # a queue append: encoding and writing happen on the log's thread
            self.payload_log.record(payload, headers, inputs, outputs)
        return self._response(outputs, payload, headers)

    def _response(self, outputs: Any, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """What KServe's routes (and the fast path) turn into the HTTP answer."""
        v1 = isinstance(payload, dict)
        if isinstance(outputs, AsyncIterator):
            if v1:
                return outputs  # KServe's v1 route streams it
            raise InferenceError("predict returned a stream, which only the v1 endpoint (:predict) can answer")
        if isinstance(outputs, (set, frozenset)):
            raise InferenceError("predict returned a set, which has no order and no JSON form: return a list")
        if v1 and (self.spec or {}).get("kind") != "dataframe" and not _cloudevent(headers):
            values = codec.to_numpy(outputs)
            if isinstance(values, np.ndarray) and values.size >= LARGE and _plain_numbers(values):
                # not tolist(): the fast path writes large arrays in chunks, off the event loop (bodies.py);
                # KServe's route writes them with orjson (CloudEvents, whose encoder wants lists, excepted)
                return {"predictions": np.ascontiguousarray(values)}
        return codec.encode(outputs, payload, self.name)

    def get_input_types(self) -> list[dict[str, Any]]:
        """v2 model metadata: the one input tensor a tensor or array ``example_input`` describes."""
        spec = self.spec or {}
        if spec.get("kind") not in ("torch", "numpy") or not spec.get("dtype"):
            return []
        from kserve.utils.numpy_codec import from_np_dtype

        try:
            datatype = from_np_dtype(np.dtype(spec["dtype"]))
        except TypeError:  # a torch dtype numpy does not have (bfloat16)
            return []
        return [{"name": "input-0", "datatype": datatype, "shape": spec.get("shape") or [-1]}] if datatype else []


def _plain_numbers(array: Any) -> bool:
    return array.dtype.kind in NUMERIC_KINDS and array.dtype.isnative


def _cloudevent(headers: dict[str, str] | None) -> bool:
    """A CloudEvent request (binary: ``ce-`` headers; structured: its content type), answered as one."""
    if not headers:
        return False
    return headers.get("content-type") == "application/cloudevents+json" or any(
        key.startswith("ce-") for key in headers
    )
