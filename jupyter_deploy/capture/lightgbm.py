"""LightGBM boosters and scikit-learn wrappers as LightGBM's model text (``model_to_string``).

LightGBM cannot load a wrapper from a model file, so the loader rebuilds an equivalent of it around the
Booster; for a classifier, the wrapper's ``classes_`` are written into the predictor as a literal list
(``predict`` maps the most probable class to its label, as ``LGBMClassifier.predict`` does).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import CaptureContext, Saved, loaded, type_name

CLASSES = ("Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")
PARAMETERS_START, PARAMETERS_END = "\nparameters:\n", "\nend of parameters"
# LightGBM's parameters that name files (its docs: IO parameters), in the model text's "[name: value]" lines
FILE_PARAMETER = re.compile(
    r"^(?P<key>\[(?:data|valid|input_model|output_model|output_result|convert_model|config|valid_data_initscores"
    r"|\w+_filename|\w+_file)): [^\n]+\]$",
    re.MULTILINE,
)


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
    (context.directory / filename).write_text(without_file_names(booster.model_to_string()), encoding="utf-8")
    return Saved(filename, arguments=arguments, modules=frozenset({"lightgbm", "numpy"}))


def without_file_names(text: str) -> str:
    """The model text with the training run's file-name parameters emptied (``[forcedsplits_filename: ]``): they
    name files of the exporting machine, and prediction reads none of them."""
    start, end = text.find(PARAMETERS_START), text.find(PARAMETERS_END)
    if start < 0 or end < start:
        return text
    parameters = FILE_PARAMETER.sub(r"\g<key>: ]", text[start:end])
    return text[:start] + parameters + text[end:]


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
