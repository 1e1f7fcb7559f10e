"""What ``kube.apply`` and ``kube.status`` results say to a person: the lines ``jupyter-deploy apply|status``
print and the side panel shows, written once so the two front doors cannot drift apart."""

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
