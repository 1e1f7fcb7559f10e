"""A monitoring result as an MLflow run in the deployment's experiment (the project's store: ``mlflow_store``).

The run is named ``monitor-YYYYmmdd-HHMMSS`` and tagged ``jupyter_deploy.kind=monitor`` (retraining runs are
not), with the version compared. Metrics: ``drift.SIDE.FEATURE.psi`` / ``.statistic`` / ``.p_value`` per
feature, and ``drift.features_drifted``, ``drift.max_psi``, ``drift.detected`` (0 or 1), ``payload.rows``.
The JSON result (and the HTML report, when written) are the run's artifacts under ``monitor/``.
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import MonitorError

UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")  # what MLflow accepts in a metric name


def metric_name(*parts: str) -> str:
    return ".".join(UNSAFE.sub("_", part) for part in parts)


def drift_metrics(result: dict[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for feature in result["features"]:
        for key in ("psi", "statistic", "p_value"):
            value = feature[key]
            if value is not None:
                metrics[metric_name("drift", feature["side"], feature["name"], key)] = float(value)
    psis = [feature["psi"] for feature in result["features"] if feature["psi"] is not None]
    metrics["drift.features_drifted"] = float(sum(1 for feature in result["features"] if feature["drifted"]))
    metrics["drift.features_judged"] = float(result["judged"])
    metrics["drift.max_psi"] = float(max(psis)) if psis else 0.0
    metrics["drift.detected"] = 1.0 if result["drifted"] else 0.0
    metrics["payload.rows"] = float(result["rows"])
    metrics["payload.requests"] = float(result["requests"])
    return metrics


def log_result(root: str | Path, result: dict[str, Any], html_path: Path | None = None) -> str:
    """Log ``result`` as a finished run; returns its id."""
    from ..retrain.mlflow_store import TAG, MlflowStore

    try:
        store = MlflowStore(root)
        name = result["name"]
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        run = store.client.create_run(
            store.experiment_id(name) or "0",
            tags={f"{TAG}name": name, f"{TAG}kind": "monitor", f"{TAG}version": result["version"]},
            run_name=f"monitor-{stamp}",
        )
        run_id = str(run.info.run_id)
        from mlflow.entities import Param

        params = {"payloads": str(result["payloads"]), "threshold": str(result["threshold"]),
                  "reference": str(result["reference"]["inputs"])}  # fmt: skip
        store.client.log_batch(run_id, params=[Param(key, value[:500]) for key, value in params.items()])
        store.log_metrics(run_id, drift_metrics(result))
        with tempfile.TemporaryDirectory() as folder:
            summary = Path(folder) / "drift.json"
            summary.write_text(json.dumps(result, indent=1, sort_keys=True, default=str), encoding="utf-8")
            store.client.log_artifact(run_id, str(summary), artifact_path="monitor")
        if html_path is not None:
            store.client.log_artifact(run_id, str(html_path), artifact_path="monitor")
        store.set_tags(run_id, {"outcome": "drift" if result["drifted"] else "no-drift"})
        store.end_run(run_id, "FINISHED")
    except MonitorError:
        raise
    except Exception as error:  # MLflow's own errors (a store that cannot be reached)
        raise MonitorError(
            f"logging the drift figures to MLflow failed: {type(error).__name__}: {error} (--no-mlflow skips it)"
        ) from None
    return run_id
