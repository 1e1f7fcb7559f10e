"""``.xgb.ubj``: an XGBoost model in its native format, rebuilt as the class the predictor names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


def load(path: Path, device: Any = None, cls: str = "Booster") -> Any:
    import xgboost

    if cls not in CLASSES:
        raise SystemExit(f"jupyter-deploy: {path.name}: {cls!r} is not an XGBoost class this runtime rebuilds")
    if cls == "Booster":
        return xgboost.Booster(model_file=str(path))
    model = getattr(xgboost, cls)()
    model.load_model(str(path))
    return model
