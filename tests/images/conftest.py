"""The image tests reuse the corpus harness (export with the notebook's own answers, v1/v2 checks)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "corpus"))
