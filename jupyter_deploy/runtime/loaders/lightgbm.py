"""``.lgb.txt``: LightGBM model text, as a Booster or as an equivalent of the scikit-learn wrapper it was.

LightGBM cannot load ``LGBMClassifier`` / ``LGBMRegressor`` from a model file; ``BoosterClassifier`` and
``BoosterRegressor`` answer ``predict`` (and ``predict_proba``) the way the wrappers do, with the classes
the predictor lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .refusal import ArtifactRefused

CLASSES = ("Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")


class BoosterRegressor:
    """``LGBMRegressor.predict`` (and ``LGBMRanker``'s): the booster's output."""

    def __init__(self, booster: Any) -> None:
        self.booster_ = booster
        self.feature_name_ = booster.feature_name()
        self.n_features_in_ = booster.num_feature()

    def predict(self, X: Any, **kwargs: Any) -> Any:
        return self.booster_.predict(X, **kwargs)


class BoosterClassifier(BoosterRegressor):
    """``LGBMClassifier``: probabilities per class, and ``predict`` as the most probable class's label."""

    def __init__(self, booster: Any, classes: list[Any]) -> None:
        import numpy as np

        super().__init__(booster)
        self.classes_ = np.asarray(classes)
        self.n_classes_ = len(classes)

    def predict_proba(self, X: Any, raw_score: bool = False, **kwargs: Any) -> Any:
        import numpy as np

        result = self.booster_.predict(X, raw_score=raw_score, **kwargs)
        if self.n_classes_ > 2 or raw_score or kwargs.get("pred_leaf") or kwargs.get("pred_contrib"):
            return result
        return np.vstack((1.0 - result, result)).transpose()

    def predict(self, X: Any, raw_score: bool = False, **kwargs: Any) -> Any:
        import numpy as np

        result = self.predict_proba(X, raw_score=raw_score, **kwargs)
        if raw_score or kwargs.get("pred_leaf") or kwargs.get("pred_contrib"):
            return result
        return self.classes_[np.argmax(result, axis=1)]


def load(path: Path, device: Any = None, cls: str = "Booster", classes: list[Any] | None = None) -> Any:
    import lightgbm

    if cls not in CLASSES:
        raise ArtifactRefused(f"{path.name}: {cls!r} is not a LightGBM class this runtime rebuilds")
    booster = lightgbm.Booster(model_file=str(path))
    if cls == "Booster":
        return booster
    if cls == "LGBMClassifier":
        if classes is None:
            raise ArtifactRefused(f"{path.name}: the predictor lists no classes; re-export the notebook")
        return BoosterClassifier(booster, classes)
    return BoosterRegressor(booster)
