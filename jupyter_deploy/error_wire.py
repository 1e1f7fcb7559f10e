"""JupyterDeployErrors across a process boundary (a kernel's output, a background job): type, fields, status.

The kernel side prints ``error_payload(error)`` as JSON; the other side raises ``rebuild_error(payload)``, an
error of the same class (found by name among the subclasses of ``JupyterDeployError``), with the same
message, fields and HTTP status. The REST handlers send the same ``error_fields`` in their JSON bodies.
Only the standard library and ``exceptions`` here: the kernel imports it.
"""

from __future__ import annotations

import json
from typing import Any

from .exceptions import JupyterDeployError


def error_payload(error: JupyterDeployError) -> dict[str, Any]:
    """``{"error": class name, "message", "status", "fields": {...}}``, every field JSON-serializable."""
    return {
        "error": type(error).__name__,
        "message": error.message,
        "status": error.status,
        "fields": error_fields(error),
    }


def error_fields(error: JupyterDeployError) -> dict[str, Any]:
    """The error's own fields (``option``, ``cell``, ...) that JSON can carry; the message goes apart."""
    return {key: value for key, value in vars(error).items() if key != "message" and _jsonable(value)}


def rebuild_error(payload: dict[str, Any]) -> JupyterDeployError:
    """The error ``payload`` describes; a class unknown here becomes the root class with the payload's status."""
    error_class = _error_classes().get(str(payload.get("error")), JupyterDeployError)
    error = error_class.__new__(error_class)
    # the message is already final (subclasses' __init__ would prefix their fields a second time)
    JupyterDeployError.__init__(error, str(payload.get("message", "")))
    for key, value in (payload.get("fields") or {}).items():
        setattr(error, key, value)
    status = payload.get("status")
    if isinstance(status, int) and status != error_class.status:
        error.status = status
    return error


def _error_classes() -> dict[str, type[JupyterDeployError]]:
    found: dict[str, type[JupyterDeployError]] = {JupyterDeployError.__name__: JupyterDeployError}
    pending = [JupyterDeployError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.setdefault(subclass.__name__, subclass)
            pending.append(subclass)
    return found


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
