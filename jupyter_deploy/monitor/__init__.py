"""Prediction monitoring: reference profiles saved at export, payload logs read back, drift against them.

``profile`` (what export saves), ``payloads`` (the served logs), ``drift`` (PSI, KS, chi-square),
``report`` (terminal table, HTML), ``mlflow_log`` (the run) and ``check`` (``jupyter-deploy monitor``).
"""
