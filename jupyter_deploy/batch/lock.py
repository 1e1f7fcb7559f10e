"""One ``predict`` per output at a time: ``.OUTPUT.lock`` beside the output, locked (``flock``) while it runs.

The lock file is the first thing a run writes beside its output, before the model is loaded: a directory
where it cannot be written (read-only, full, a place the kernel refuses files) is one line before any row
is predicted. A second run on the same output finds the file locked and says which process holds it; its
checkpoints (``.OUTPUT.partial/``) are left to that process. The lock dies with its process, so a killed run
never leaves a stale lock: the file it leaves is locked by nobody and taken over by the next run.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from ..exceptions import BatchError

PID_WAIT_SECONDS = 1.0  # how long to wait for a holder that has just locked the file to write its pid


def lock_path(output: Path) -> Path:
    return output.parent / f".{output.name}.lock"


class OutputLock:
    """``with OutputLock(output):`` the output is this process's until the block ends."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = lock_path(output)
        self.descriptor: int | None = None

    def __enter__(self) -> OutputLock:
        while self.descriptor is None:
            descriptor = self._open()
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(descriptor)
                os.close(descriptor)
                raise BatchError(
                    f"{self.output} is being written by another predict (pid {holder}): wait for it to finish, "
                    "or give another --output",
                    str(self.output),
                ) from None
            if self._still_there(descriptor):
                os.ftruncate(descriptor, 0)
                os.write(descriptor, f"{os.getpid()}\n".encode())
                self.descriptor = descriptor
            else:  # its holder finished and removed it just now: lock the file that is there now
                os.close(descriptor)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.descriptor is not None:
            self.path.unlink(missing_ok=True)  # removed while still locked: the next run makes a fresh one
            os.close(self.descriptor)
            self.descriptor = None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise BatchError(
                f"cannot write {self.output}: {self.output.parent} refuses new files ({error.strerror}); "
                "give an --output in a writable directory",
                str(self.output),
            ) from None

    def _still_there(self, descriptor: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            return False


def _holder(descriptor: int) -> str:
    """The pid the holder wrote in the file (it writes it right after locking: wait a moment for it)."""
    deadline = time.monotonic() + PID_WAIT_SECONDS
    while True:
        text = os.pread(descriptor, 32, 0).decode("ascii", errors="replace").strip()
        if text or time.monotonic() >= deadline:
            return text or "unknown"
        time.sleep(0.02)
