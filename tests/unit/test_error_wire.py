"""Errors across a process boundary keep their class, fields and HTTP status (through JSON, as from a kernel)."""

from __future__ import annotations

import json

from jupyter_deploy.error_wire import error_payload, rebuild_error
from jupyter_deploy.exceptions import CaptureError, JupyterDeployError, NotebookError, ValidationError
from jupyter_deploy.retrain.jobs import BusyError


def crossed(error: JupyterDeployError) -> JupyterDeployError:
    return rebuild_error(json.loads(json.dumps(error_payload(error))))


def test_class_fields_and_status_survive() -> None:
    error = crossed(CaptureError("cannot capture guard (a lock): make it in a load cell", "guard"))
    assert type(error) is CaptureError and error.status == 400
    assert error.name == "guard" and str(error) == "cannot capture guard (a lock): make it in a load cell"


def test_the_message_is_not_prefixed_twice() -> None:
    error = crossed(NotebookError("not a notebook", "a.ipynb"))
    assert type(error) is NotebookError and str(error) == "a.ipynb: not a notebook" and error.path == "a.ipynb"


def test_subclasses_outside_exceptions_and_nested_fields() -> None:
    assert type(crossed(BusyError("busy"))) is BusyError and crossed(BusyError("busy")).status == 409
    error = crossed(ValidationError("bad", [("a.yaml", "spec", "wrong")]))
    assert type(error) is ValidationError and error.problems == [["a.yaml", "spec", "wrong"]]


def test_an_unknown_class_keeps_its_status() -> None:
    error = rebuild_error({"error": "NoSuchError", "message": "m", "status": 422, "fields": {"x": 1}})
    assert type(error) is JupyterDeployError and error.status == 422 and error.x == 1  # type: ignore[attr-defined]
