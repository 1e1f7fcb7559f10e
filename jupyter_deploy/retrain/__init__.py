"""Retraining: the notebook re-run with new parameters, tracked in MLflow, promoted only when better.

``parameters`` reads and checks papermill parameters; ``run`` is one retraining run from start to outcome;
``papermill_run`` executes the notebook (``engine``: papermill's engine as we drive it); ``promote`` makes the
new version current all-or-nothing; ``gate`` decides "better"; ``mlflow_store`` is the one place that talks
to MLflow (runs, metrics, the model registry); ``jobs`` runs retraining in the background for the panel.
"""
