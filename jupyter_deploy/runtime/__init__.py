"""What generated predictors import at serve time: the model base class and the server entry point."""

from pathlib import Path

from .artifacts import load_artifact
from .model import NotebookModel
from .server import serve_main


def artifacts_dir(predictor_file: str) -> Path:
    """The ``artifacts/`` directory beside a generated ``predictor.py``."""
    return Path(predictor_file).resolve().parent / "artifacts"


__all__ = ["NotebookModel", "artifacts_dir", "load_artifact", "serve_main"]
