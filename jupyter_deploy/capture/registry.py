"""Which capture module saves a live object, by its type. The first module that accepts it wins.

A device the notebook chose (``torch_device``) is recognised first, by its value and the statement that computed
it. Order matters where types overlap: a transformers model is also a torch module, and XGBoost's and
LightGBM's scikit-learn wrappers are also scikit-learn estimators, so the more specific kinds come first.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import CaptureContext, Saved, type_name

KINDS = ("transformers", "torch_module", "xgboost", "lightgbm", "sklearn", "dataframe", "arrays", "plain")
DESCRIPTIONS = (
    "torch modules and tensors",
    "transformers models, tokenizers, processors and pipelines",
    "scikit-learn estimators and pipelines",
    "XGBoost and LightGBM models",
    "pandas DataFrames",
    "numpy arrays",
    "JSON-able values",
)


def supported_kinds() -> str:
    return ", ".join(DESCRIPTIONS)


def capture(name: str, value: Any, context: CaptureContext) -> Saved:
    """Save ``value`` under ``context.directory``; raises ``CaptureError`` with what to do instead."""
    context.directory.mkdir(parents=True, exist_ok=True)
    from . import torch_device

    if torch_device.accepts(name, value, context):  # by its name and statement too: a device string is a str
        return torch_device.save(name, value, context)
    for kind in KINDS:
        module = importlib.import_module(f".{kind}", __package__)
        if module.accepts(value):
            saved: Saved = module.save(name, value, context)
            return saved
    from .pickled import or_refuse

    return or_refuse(
        name,
        value,
        context,
        f"{name!r} is a {type_name(value)}, which jupyter-deploy cannot save without pickle (it saves "
        f"{supported_kinds()}). Build it in a 'load' cell (%%deploy load) so the server creates it at "
        "start-up, or pass --allow-pickle if you trust whoever will load this version",
    )
