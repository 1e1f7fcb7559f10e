"""The ``manifests`` command behind every front door (``jupyter-deploy manifests``, ``%deploy manifests``):
``deploy/NAME/`` for a version, or with a batch input and output its Indexed Job, and the text to show."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import OptionsError
from . import report


@dataclass
class Written:
    result: dict[str, Any]  # what ``--json`` prints
    text: str
    notes: list[str] = field(default_factory=list)  # said on stderr: what the user should know before applying


def write_deploy_files(
    root: str | Path,
    spec: str,
    options: dict[str, Any],
    *,
    commit: bool = False,
    promote: bool = False,
    batch_job: bool = False,
    batch_input: str | None = None,
    batch_output: str | None = None,
    parallelism: int = 1,
) -> Written:
    """Write the deployment's manifests (``write_manifests``) or, with ``batch_job``, its batch Job."""
    if batch_job or batch_input or batch_output:
        if not (batch_job and batch_input and batch_output):
            raise OptionsError("a batch job needs --batch-job, --input URI and --output URI together")
        if promote or commit:
            raise OptionsError("--batch-job writes deploy/NAME/batch-job.yaml only: drop --promote and --commit")
        from .batch_job import write_batch_job

        result = write_batch_job(root, spec, options, batch_input, batch_output, parallelism)
        return Written(result, report.batch_job_text(result), list(result["notes"]))
    from .manifests import write_manifests

    result = write_manifests(root, spec, options, commit=commit, promote=promote)
    text = report.manifests_text(result)
    return Written(result, f"{text}\n{report.commit_line(result)}" if commit else text)
