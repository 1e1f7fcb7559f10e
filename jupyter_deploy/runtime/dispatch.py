"""Where a synchronous predict runs: on the inference thread, or inline when it is known to be quick.

Handing a call to another thread costs a GIL hand-off on each side, which for a tiny model is far more
than the model itself. A call that recently took under ``INLINE_BELOW_S`` (5 ms) every time runs inline on the
event loop (a stall shorter than that is harmless to health checks); anything slow, or not yet measured,
runs on the single inference thread so the loop keeps answering. One slow call sends the next
``WINDOW`` calls back to the thread.

Calls run in the order they arrive: while any call handed to the inference thread has not come back, a new
call queues behind it there too, even when it would be quick enough to run inline (inline, it would overtake
every call still waiting on the thread).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

INLINE_BELOW_S = 0.005
WINDOW = 32


class Dispatcher:
    def __init__(self, executor: Any, inline_below_s: float = INLINE_BELOW_S) -> None:
        self.executor = executor
        self.inline_below_s = inline_below_s
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.queued = 0
        """calls handed to the inference thread whose callers have not resumed yet"""

    @property
    def inline(self) -> bool:
        return len(self.recent) == WINDOW and max(self.recent) < self.inline_below_s

    async def call(self, function: Callable[[Any], Any], argument: Any) -> Any:
        if not self.queued and self.inline:
            start = time.perf_counter()
            try:
                return function(argument)
            finally:
                self.recent.append(time.perf_counter() - start)
        loop = asyncio.get_running_loop()
        self.queued += 1
        try:
            return await loop.run_in_executor(self.executor, self._timed, function, argument)
        finally:
            self.queued -= 1

    def _timed(self, function: Callable[[Any], Any], argument: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(argument)
        finally:
            self.recent.append(time.perf_counter() - start)
