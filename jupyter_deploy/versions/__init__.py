"""Versions: a closure and its captured objects -> ``deployments/NAME/vN/``, immutable and content-hashed.

``export`` is the one export every front door calls (``execute`` runs the notebook in a fresh kernel first);
``predictor`` renders ``predictor.py`` and copies the runtime beside it; ``requirements`` pins what serving
imports; ``parity``, ``reference`` and ``batchcheck`` check the written module against what the notebook
computed, each in its own process (``json_line``: how such a process reports back; ``predictor_class``: how it
imports the version; ``pipeline``: the notebook's pipeline as export runs it); ``store`` numbers, locks, lists,
diffs and resolves versions.
"""
