"""Atomic file writes: a file is either its old content or its new content, never half of either.

The new content goes to a temporary file beside the target (same directory, so same filesystem) that is
renamed onto it; on any error the temporary file is removed and the target is left as it was. Files are
created with the user's umask (``mkstemp``'s 0600 would survive the rename). The serving runtime
(``jupyter_deploy/runtime/``) keeps its own copy: it runs without this package installed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` for the caller to write; renamed onto ``path`` when the block
    ends, removed when it raises. The parent directory is created if needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8 with ``\\n`` line ends, or bytes) to ``path`` atomically."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)
