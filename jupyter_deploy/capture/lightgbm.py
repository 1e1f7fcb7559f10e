"""LightGBM boosters and scikit-learn wrappers as LightGBM's model text (``model_to_string``).

LightGBM cannot load a wrapper from a model file, so the loader rebuilds an equivalent of it around the
Booster; for a classifier, the wrapper's ``classes_`` are written into the predictor as a literal list
(``predict`` maps the most probable class to its label, as ``LGBMClassifier.predict`` does).
"""

from __future__ import annotations

import json
from typing import Any

from .base import CaptureContext, Saved, loaded, type_name

CLASSES = ("Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")


def accepts(value: Any) -> bool:
    lightgbm = loaded("lightgbm")
    return lightgbm is not None and isinstance(value, (lightgbm.Booster, lightgbm.LGBMModel))


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    import lightgbm

    cls = type(value).__name__
    if cls not in CLASSES or getattr(lightgbm, cls, None) is not type(value):
        return _refuse(name, value, context, f"{type_name(value)} is not one of LightGBM's own classes")
    arguments = {"cls": f'"{cls}"'}
    try:
        booster = value if cls == "Booster" else value.booster_
    except Exception as error:  # an unfitted wrapper raises sklearn's NotFittedError
        return _refuse(name, value, context, f"it is not fitted ({type(error).__name__})")
    if cls != "Booster" and callable(value.objective):
        return _refuse(name, value, context, "it uses a custom objective function (predict returns raw scores)")
    if cls == "LGBMClassifier":
        classes = [item.item() if hasattr(item, "item") else item for item in value.classes_]
        if not all(isinstance(item, (str, int, float, bool)) for item in classes):
            return _refuse(name, value, context, "its class labels are not strings or numbers")
        arguments["classes"] = classes_literal(classes)
    filename = f"{name}.lgb.txt"
    (context.directory / filename).write_text(booster.model_to_string(), encoding="utf-8")
    return Saved(filename, arguments=arguments, modules=frozenset({"lightgbm", "numpy"}))


def classes_literal(classes: list[Any]) -> str:
    def literal(item: Any) -> str:
        return json.dumps(item) if isinstance(item, str) else repr(item)

    return "[" + ", ".join(literal(item) for item in classes) + "]"


def _refuse(name: str, value: Any, context: CaptureContext, reason: str) -> Saved:
    from .pickled import or_refuse

    return or_refuse(
        name,
        value,
        context,
        f"{name!r} cannot be saved as LightGBM model text: {reason}. Build it in a 'load' cell "
        "(%%deploy load) from a saved model file, or pass --allow-pickle",
    )
