"""Capture: live kernel objects -> files under a version's ``artifacts/`` that a predictor loads without pickle.

One module per kind of object, each saving it in the format its own library uses (``torch.export`` or a
``state_dict`` in safetensors, ``save_pretrained``, skops, XGBoost's UBJ, LightGBM's model text, ``.npy``,
JSON...). ``registry.capture`` picks the module by the live object's type; the loading side is
``jupyter_deploy.runtime.loaders``, chosen by the file name's suffix. What a loader trusts (skops types,
classes to rebuild) is written into the generated ``predictor.py`` as code, never read from the artifact.
"""

from __future__ import annotations

from .base import CaptureContext, Saved
from .registry import capture, supported_kinds

__all__ = ["CaptureContext", "Saved", "capture", "supported_kinds"]
