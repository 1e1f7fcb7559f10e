"""``.json``: a plain value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load(path: Path, device: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
