"""``jupyter-deploy monitor NAME[@vN] --payloads DIR``: logged requests against the version's reference profile.

Everything is read and compared before anything is written: a bad payload directory or a version without a
profile is one line and leaves no report and no MLflow run behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..exceptions import MonitorError

DEFAULT_THRESHOLD = 0.2


def run_monitor(
    root: str | Path,
    spec: str,
    payloads: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    html: str | Path | None = None,
    log_to_mlflow: bool = True,
) -> dict[str, Any]:
    """Compare, then write the HTML report and the MLflow run; returns the result (``drifted``: exit 3)."""
    from ..versions import store
    from .drift import SideSummaries, compare
    from .payloads import PayloadReader
    from .profile import PROFILE_FILE, read_profile

    if not threshold > 0:
        raise MonitorError(f"--threshold must be a positive PSI (0.1 moderate, 0.2 usual, 0.25 large), not {threshold}")
    if html is not None:
        check_report_path(html)
    info, version_dir = store.resolve(root, spec)
    profile = read_profile(version_dir)
    if profile is None:
        raise MonitorError(
            f"{info.name} {info.version} has no reference profile (artifacts/{PROFILE_FILE}): it was exported "
            "before monitoring existed; export the notebook again to get one"
        )
    reader = PayloadReader(payloads, info.name)
    inputs, outputs = SideSummaries(profile.get("inputs"), "input"), SideSummaries(profile.get("outputs"), "output")
    with _fewer_collections():
        for chunk in reader.chunks():  # the logs are read once, chunk by chunk, into online summaries
            inputs.add(chunk.inputs)
            outputs.add(chunk.outputs)
    logged = reader.summary
    features = compare(inputs, threshold) + compare(outputs, threshold)
    judged = [feature for feature in features if feature.psi is not None and not feature.note]
    result: dict[str, Any] = {
        "name": info.name,
        "version": info.version,
        "payloads": str(Path(payloads).resolve()),
        "threshold": threshold,
        "reference": {
            "inputs": (profile.get("inputs") or {}).get("source"),
            "outputs": (profile.get("outputs") or {}).get("source"),
            "rows": (profile.get("inputs") or {}).get("rows"),
        },
        "requests": logged.requests,
        "rows": logged.rows,
        "logged_versions": logged.versions,
        "files": logged.files,
        "first": logged.first,
        "last": logged.last,
        "judged": len(judged),
        "drifted": any(feature.drifted for feature in features),
        "features": [feature.as_dict() for feature in features],
    }
    html_path = None
    if html is not None:
        from .report import write_html

        html_path = write_html(result, html)
        result["html"] = str(html_path)
    if log_to_mlflow:
        from .mlflow_log import log_result

        result["mlflow_run_id"] = log_result(root, result, html_path)
    return result


def check_report_path(html: str | Path) -> None:
    """Refuse a ``--html`` the report could not be written to, before reading any log: a directory, a path
    under a file, a place where no file can be created (tried with an unnamed temporary file)."""
    import tempfile

    path = Path(html)
    if path.is_dir():
        raise MonitorError(f"--html {html} is a directory: give a file name such as {path / 'drift.html'}")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise MonitorError(f"--html {html}: {existing} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise MonitorError(f"--html {html}: cannot write in {existing} ({error.strerror})") from None


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Reading a chunk makes a few hundred thousand small lists and dicts, freed by reference counting; the
    cyclic collector's default pass every 700 allocations would spend a fifth of the reading time on them."""
    import gc

    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], 100_000), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
