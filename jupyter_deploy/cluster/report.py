"""What the cluster commands' results say to a person: the lines ``jupyter-deploy manifests|apply|status`` and
``%deploy manifests`` print and the side panel shows, written once so the front doors cannot drift apart."""

from __future__ import annotations

from typing import Any


def applied_lines(result: dict[str, Any]) -> list[str]:
    """One line per object of ``kube.apply``: ``KIND/NAME in NAMESPACE: created|configured|unchanged``."""
    return [f"{item['kind']}/{item['name']} in {item['namespace']}: {item['action']}" for item in result["objects"]]


def dropped_warning(field: str) -> str:
    """A field the cluster dropped; it makes apply a failure (the CLI exits 1, the panel shows an error)."""
    return f"the server dropped {field} (unknown field?)"


def status_headline(result: dict[str, Any]) -> str:
    return f"{result['name']} in {result['namespace']}: {'ready' if result['ready'] else 'not ready'}"


def status_details(result: dict[str, Any]) -> list[str]:
    """The URL, the version served (and the canary share), then the InferenceService's conditions."""
    canary = f", canary {result['canary']}%" if result.get("canary") is not None else ""
    lines = [f"url: {result.get('url') or '-'}", f"version: {result.get('version') or '-'}{canary}"]
    conditions = [
        f"{item['type']}: {item['status']}" + (f" ({item['reason']}: {item['message']})" if item.get("reason") else "")
        for item in result["conditions"]
    ]
    return lines + (conditions or ["no conditions yet (is the KServe controller running?)"])


def manifests_text(result: dict[str, Any]) -> str:
    """What ``write_manifests`` wrote: the directory, a canary or stock runtime's note, the files."""
    changed = "wrote" if result["changed"] else "unchanged"
    lines = [f"{changed} {result['directory']} ({result['name']} {result['version']})"]
    if result["canary"]:
        canary = result["canary"]
        lines.append(f"  canary: {canary['percent']}% to {canary['version']}, the rest to {canary['stable']}")
    if result["model_format"]:
        lines.append(f"  KServe {result['model_format']} runtime: upload the model as UPLOAD.txt says")
    lines += [f"  {path}" for path in result["files"]]
    return "\n".join(lines)


def commit_line(result: dict[str, Any]) -> str:
    """What ``--commit`` did."""
    return f"committed {result['commit']}" if result["commit"] else "nothing to commit"


def batch_job_text(result: dict[str, Any]) -> str:
    """What ``write_batch_job`` wrote: the file, the Job, its pods and image."""
    changed = "wrote" if result["changed"] else "unchanged"
    return (
        f"{changed} {result['path']} ({result['name']} {result['version']}: "
        f"Job {result['job']}, {result['parallelism']} pod(s), image {result['image']})"
    )
