"""What an action's result means for the side panel: still busy, done, or failed, and the words to show.

The panel sends back the answer it got from an action route (export, manifests, serve, stop, retrain,
apply, status) and shows the ``Outcome`` the server makes of it, so the browser decides none of it: apply
with fields the cluster dropped is a failure, as ``jupyter-deploy apply`` exits 1 on them (same lines,
``cluster/report.py``); a retraining job still running is busy with the cell it runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from ...cluster.report import applied_lines, dropped_warning, status_details, status_headline
from ...records import ExportResult
from ...retrain.jobs import RetrainJob
from .actions import ManifestsWritten, ServeStatus


class Outcome(BaseModel):
    """``POST /jupyter-deploy/outcome``: what the panel shows on the deployment's status line."""

    state: Literal["busy", "ok", "error"] = Field(description="busy: ask again once the job has moved on")
    text: str
    detail: str | None = Field(default=None, description="a monospace block: objects, files, a request to try")


class ExportAnswer(BaseModel):
    action: Literal["export", "export-execute"]
    result: ExportResult

    def outcome(self) -> Outcome:
        result, version = self.result, f"{self.result.info.name} {self.result.info.version}"
        if not result.created:
            return Outcome(state="ok", text=f"Unchanged: {version} already holds this code ({result.path}).")
        changed = f"; changed: {', '.join(result.changed_files)}" if result.changed_files else ""
        return Outcome(state="ok", text=f"Created {version} in {result.path}{changed}.")


class ManifestsAnswer(BaseModel):
    action: Literal["manifests"]
    result: ManifestsWritten

    def outcome(self) -> Outcome:
        written = self.result
        what = "Wrote" if written.changed else "Unchanged:"
        text = f"{what} the manifests of {written.name} {written.version}."
        return Outcome(state="ok", text=text, detail="\n".join(written.files))


class ServeAnswer(BaseModel):
    action: Literal["serve", "stop"]
    result: ServeStatus

    def outcome(self) -> Outcome:
        server = self.result
        if not server.running:
            return Outcome(state="ok", text=f"Stopped the local {server.name} server.")
        return Outcome(
            state="ok",
            text=f"Serving {server.name} {server.version} at {server.url}",
            detail=f"POST {server.v1}\n\nTry it:\n{server.curl}",
        )


class RetrainAnswer(BaseModel):
    action: Literal["retrain"]
    result: RetrainJob

    def outcome(self) -> Outcome:
        job = self.result
        if job.status == "running":
            text = f"Retraining: running {job.cell}" if job.cell else "Retraining: starting the kernel…"
            return Outcome(state="busy", text=text)
        if job.status == "failed":
            return Outcome(state="error", text=f"Retraining failed: {job.message or 'no message'}")
        result = job.result
        if result is None:
            return Outcome(state="ok", text=f"Retraining finished (job {job.id}).")
        if result.promoted:
            return Outcome(state="ok", text=f"Promoted {result.name} {result.version}: {result.reason}")
        text = f"Not promoted ({result.outcome}; {result.version} kept aside): {result.reason}"
        return Outcome(state="ok", text=text)


class AppliedObject(BaseModel):
    kind: str
    name: str
    namespace: str
    action: str


class ApplyReport(BaseModel):
    """``kube.apply``'s answer, the parts the outcome reads."""

    name: str
    namespace: str
    objects: list[AppliedObject]
    dropped: list[str]


class Applied(BaseModel):
    name: str
    result: ApplyReport


class ApplyAnswer(BaseModel):
    action: Literal["apply"]
    result: Applied

    def outcome(self) -> Outcome:
        report = self.result.result
        dropped = report.dropped
        detail = "\n".join([*applied_lines(report.model_dump()), *map(dropped_warning, dropped)])
        where = f"{report.name} to namespace {report.namespace}"
        if dropped:
            text = f"Applied {where}, but the server dropped {len(dropped)} field(s) (unknown field?): "
            return Outcome(state="error", text=text + ", ".join(dropped), detail=detail)
        return Outcome(state="ok", text=f"Applied {where}.", detail=detail)


class Condition(BaseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class StatusReport(BaseModel):
    """``kube.status``'s answer; the rest (version, canary share) is read by ``status_details`` as sent."""

    model_config = ConfigDict(extra="allow")

    name: str
    namespace: str
    ready: bool
    conditions: list[Condition]


class Status(BaseModel):
    name: str
    result: StatusReport


class StatusAnswer(BaseModel):
    action: Literal["status"]
    result: Status

    def outcome(self) -> Outcome:
        report = self.result.result.model_dump()
        return Outcome(state="ok", text=status_headline(report), detail="\n".join(status_details(report)))


AnyAnswer = ExportAnswer | ManifestsAnswer | ServeAnswer | RetrainAnswer | ApplyAnswer | StatusAnswer


class ActionAnswer(RootModel[Annotated[AnyAnswer, Field(discriminator="action")]]):
    """``POST /jupyter-deploy/outcome`` body: ``{"action": ID, "result": what that action's route answered}``."""

    def outcome(self) -> Outcome:
        return self.root.outcome()
