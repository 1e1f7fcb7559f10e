"""Adaptive in-process batching: concurrent requests stacked along dim 0, run once, split back.

No request is held waiting when nothing else is queued: the batcher runs whatever is queued as soon as
the previous batch is done. While a batch runs, new requests queue up and form the next batch (up to
``max_batch_size`` rows). ``max_latency_ms`` bounds how long the batcher keeps collecting requests that
are still arriving (it never waits on an empty queue). One batch runs at a time, in the default executor,
so the event loop keeps answering health checks.

A batch whose call fails (one request's values make predict raise, or the outputs cannot be cut back) runs
its requests again one at a time, in order: only a request that fails on its own gets an error. Whatever the
notebook's code raises, ``SystemExit`` and ``KeyboardInterrupt`` included, is that request's ``InferenceError``;
it never reaches the event loop, which would stop the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kserve.errors import InferenceError, InvalidInput


def rows_of(value: Any) -> int:
    """The size of the batch dimension of a tensor or array."""
    shape = getattr(value, "shape", None)
    if not shape:
        raise InvalidInput("batching needs inputs with a batch dimension (a tensor or array of rank >= 1)")
    return int(shape[0])


def concat(values: list[Any]) -> Any:
    if len(values) == 1:
        return values[0]
    first = values[0]
    if hasattr(first, "detach"):
        import torch

        return torch.cat(values, dim=0)
    import numpy as np

    return np.concatenate(values, axis=0)


def split(outputs: Any, sizes: list[int]) -> list[Any]:
    """``outputs`` cut back into one piece per request, along dim 0."""
    if len(sizes) == 1:
        return [outputs]
    total = sum(sizes)
    if getattr(outputs, "shape", None) is None or not outputs.shape or int(outputs.shape[0]) != total:
        shape = list(getattr(outputs, "shape", [])) or type(outputs).__name__
        raise InferenceError(
            f"predict returned {shape} for a batch of {total} rows: batched predict must keep the batch "
            "dimension (serve without --max-batch-size)"
        )
    pieces, start = [], 0
    for size in sizes:
        pieces.append(outputs[start : start + size])
        start += size
    return pieces


class _Item:
    __slots__ = ("future", "rows", "value")

    def __init__(self, value: Any, rows: int, future: asyncio.Future[Any]) -> None:
        self.value = value
        self.rows = rows
        self.future = future


class Batcher:
    """Collects concurrent ``submit`` calls into batches for ``run_batch`` (a synchronous function)."""

    def __init__(
        self,
        run_batch: Callable[[Any], Any],
        max_batch_size: int,
        max_latency_ms: float = 5.0,
        observe: Callable[[int, int], None] | None = None,
        dispatcher: Any = None,
    ) -> None:
        self.run_batch = run_batch
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_latency = max(0.0, float(max_latency_ms)) / 1000.0
        self.observe = observe
        self.dispatcher = dispatcher
        self._queue: list[_Item] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, value: Any) -> Any:
        """The outputs for ``value`` (its rows of the batch it ran in)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._loop())
        item = _Item(value, rows_of(value), loop.create_future())
        self._queue.append(item)
        assert self._wakeup is not None
        self._wakeup.set()
        return await item.future

    def _take(self) -> list[_Item]:
        """Queued items up to ``max_batch_size`` rows (always at least one)."""
        taken: list[_Item] = []
        rows = 0
        while self._queue:
            item = self._queue[0]
            if taken and rows + item.rows > self.max_batch_size:
                break
            taken.append(self._queue.pop(0))
            rows += item.rows
        return taken

    async def _collect(self) -> list[_Item]:
        """Requests that are still arriving (their handlers are runnable) join; an idle queue is not waited on."""
        deadline = time.perf_counter() + self.max_latency
        seen = len(self._queue)
        while sum(item.rows for item in self._queue) < self.max_batch_size and time.perf_counter() < deadline:
            await asyncio.sleep(0)  # let request handlers that are ready reach submit()
            if len(self._queue) == seen:
                break
            seen = len(self._queue)
        return self._take()

    async def _loop(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = await self._collect()
            sizes = [item.rows for item in batch]
            try:
                pieces = split(await self._call(concat([item.value for item in batch])), sizes)
            except asyncio.CancelledError:
                raise
            except BaseException as error:
                if len(batch) == 1:
                    _settle(batch[0], error=error)
                else:  # one request may be the cause: each runs alone, and only those that fail alone fail
                    for item in batch:
                        await self._run_alone(item)
                continue
            if self.observe is not None:
                self.observe(sum(sizes), len(batch))
            for item, piece in zip(batch, pieces, strict=True):
                _settle(item, piece)

    async def _call(self, inputs: Any) -> Any:
        if self.dispatcher is not None:
            return await self.dispatcher.call(self.run_batch, inputs)
        return await asyncio.get_running_loop().run_in_executor(None, self.run_batch, inputs)

    async def _run_alone(self, item: _Item) -> None:
        try:
            outputs = await self._call(item.value)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            _settle(item, error=error)
            return
        if self.observe is not None:
            self.observe(item.rows, 1)
        _settle(item, outputs)


def _settle(item: _Item, result: Any = None, error: BaseException | None = None) -> None:
    """Hand a request its outputs or its failure (an ``Exception``: a ``SystemExit`` or ``KeyboardInterrupt``
    set on a future would be raised again in the request's task and stop the event loop)."""
    if item.future.done():  # the client went away
        return
    if error is None:
        item.future.set_result(result)
    elif isinstance(error, Exception):
        item.future.set_exception(error)
    else:
        item.future.set_exception(InferenceError(f"predict failed: {type(error).__name__}: {error}"))
