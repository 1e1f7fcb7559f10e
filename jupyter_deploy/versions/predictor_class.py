"""Import a version's ``predictor.py`` in this process, as the model server imports it, and find its model class.

Used inside the fresh processes that check a version (parity, batching) and by batch prediction. The import
itself is the runtime's (``runtime.predictor_module``); here the version's own ``_jd_runtime/`` is put first
on the path, so predictor.py imports the runtime it ships with.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..runtime import predictor_module


def load_predictor_class(version_dir: Path) -> Any:
    """The ``NotebookModel`` subclass defined by ``version_dir/predictor.py`` (imported as ``_jd_predictor``)."""
    sys.path.insert(0, str(Path(version_dir).resolve()))
    return predictor_module.load_predictor_class(version_dir)
