"""XGBoost boosters and scikit-learn wrappers in XGBoost's own UBJSON format (``save_model``).

The wrapper's class is written into the predictor (``cls="XGBClassifier"``); the loader rebuilds only
classes from its allowlist, so a file cannot choose what code runs. A subclass of a wrapper (it could
override ``predict``) is not saved this way.
"""

from __future__ import annotations

from typing import Any

from .base import CaptureContext, Saved, loaded, type_name

CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


def accepts(value: Any) -> bool:
    xgboost = loaded("xgboost")
    if xgboost is None:
        return False
    return isinstance(value, (xgboost.Booster, xgboost.XGBModel))


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    import xgboost

    cls = type(value).__name__
    if cls not in CLASSES or getattr(xgboost, cls, None) is not type(value):
        return _refuse(
            name, value, context, f"{type_name(value)} is not one of XGBoost's own classes ({', '.join(CLASSES)})"
        )
    filename = f"{name}.xgb.ubj"
    try:
        value.save_model(str(context.directory / filename))
    except Exception as error:  # an unfitted model, mostly
        (context.directory / filename).unlink(missing_ok=True)
        return _refuse(name, value, context, f"save_model failed: {type(error).__name__}: {error}")
    modules = {"xgboost", "numpy"} | ({"sklearn"} if cls != "Booster" and loaded("sklearn") else set())
    return Saved(filename, arguments={"cls": f'"{cls}"'}, modules=frozenset(modules))


def _refuse(name: str, value: Any, context: CaptureContext, reason: str) -> Saved:
    from .pickled import or_refuse

    return or_refuse(
        name,
        value,
        context,
        f"{name!r} cannot be saved in XGBoost's format: {reason}. Build it in a 'load' cell (%%deploy load) "
        "from a saved model file, or pass --allow-pickle",
    )
