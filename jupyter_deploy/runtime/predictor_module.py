"""Import a version's ``predictor.py`` as the model server imports it and find its model class.

The one implementation: batch prediction in a cluster (``_jd_runtime.batch``) and the tool's own checks
(``jupyter_deploy.versions.predictor_class``) both call it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

MODULE_NAME = "_jd_predictor"


def load_predictor_class(version_dir: Path) -> Any:
    """The ``NotebookModel`` subclass defined by ``version_dir/predictor.py`` (imported as ``_jd_predictor``)."""
    spec = importlib.util.spec_from_file_location(MODULE_NAME, Path(version_dir) / "predictor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return next(
        value
        for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == MODULE_NAME and hasattr(value, "load_state")
    )
