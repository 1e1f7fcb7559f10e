"""Retraining: the notebook re-run with new parameters, tracked in MLflow, promoted only when better.

``parameters`` reads and checks papermill parameters; ``run`` executes the notebook, exports the result and
promotes it all-or-nothing; ``gate`` decides "better"; ``mlflow_store`` is the one place that talks to
MLflow (runs, metrics, the model registry); ``jobs`` runs retraining in the background for the panel.
"""
