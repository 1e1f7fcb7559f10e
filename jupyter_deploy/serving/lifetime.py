"""A local server never outlives what started it, whatever the moment the starter is stopped.

``die_with_parent``: on Linux the child is armed, before it runs anything, to get SIGTERM when the thread that
started it ends (``PR_SET_PDEATHSIG``): a ``jupyter-deploy serve`` killed by SIGKILL, or a kernel that dies,
takes its predictor with it. The signal follows the thread that forked, not the process, so only children
started from the main thread are armed (a worker thread may end long before its process).
``stop_on_sigterm``: SIGTERM raises ``KeyboardInterrupt``, Ctrl-C's clean stop (the server is stopped and
waited for), installed before the child starts: no moment is left where SIGTERM ends the starter and leaves
its server running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """What a child runs between fork and exec (``preexec_fn``); None where it cannot be armed."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:  # in the child, before exec: a system call and a comparison, nothing else
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent ended before the signal was armed
            os._exit(1)

    return arm


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Inside the block, the first SIGTERM raises ``KeyboardInterrupt``; later ones are ignored, so that they
    cannot break off the stop the first one started."""
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
