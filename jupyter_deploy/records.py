"""The records passed between stages and written to files (annotations, deployments, tensor specs, version
info, export results): pydantic models, mirrored on the wire by ``labextension/models.ts``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

Role = Literal["predict", "load", "preprocess", "postprocess", "example", "reference"]
# reference: binds reference_input (the training features), profiled at export for monitoring, never served
ROLES: tuple[str, ...] = ("predict", "load", "preprocess", "postprocess", "example", "reference")
# the variable each role's cell must bind (a load cell binds whatever it builds)
ROLE_VARIABLES: dict[str, str] = {
    "predict": "predict",
    "preprocess": "preprocess",
    "postprocess": "postprocess",
    "example": "example_input",
    "reference": "reference_input",
}


class Annotation(BaseModel):
    """One annotated cell: its role in deployment ``name``, where it is, and its magic-line options."""

    model_config = ConfigDict(frozen=True)

    role: Role
    name: str
    cell_id: str
    index: int = Field(description="position of the cell in the notebook (or the kernel's history)")
    options: dict[str, Any] = Field(default_factory=dict)
    source: str = Field(default="", description="the cell's Python source, magic line removed")
    via: Literal["magic", "tag"] = "magic"


class Deployment(BaseModel):
    """The annotated cells of one deployment in a notebook."""

    name: str
    cells: list[Annotation]

    def role(self, role: str) -> list[Annotation]:
        return [cell for cell in self.cells if cell.role == role]


class ColumnSpec(BaseModel):
    """One column of a DataFrame ``example_input``: requests are read into this dtype (pandas' name)."""

    name: str
    dtype: str
    categories: list[Any] | None = None
    ordered: bool | None = None
    label: int | None = None
    """an integer column label (a headerless CSV's); ``name`` is its text, as requests send it"""


class TensorSpec(BaseModel):
    """What the predictor's inputs look like, derived from ``example_input``.

    ``kind`` says how a request is decoded before ``predict`` sees it; ``shape`` has -1 for the batch dim;
    a DataFrame has ``columns`` (in order) instead.
    """

    kind: Literal["torch", "numpy", "list", "json", "dataframe"]
    dtype: str | None = None
    shape: list[int] | None = None
    columns: list[ColumnSpec] | None = None

    @model_serializer(mode="wrap")
    def _drop_absent_columns(self, handler: Any) -> Any:
        """Tensor specs stay as they were written before DataFrames (no ``columns: null``)."""
        data = handler(self)
        if isinstance(data, dict):
            if data.get("columns") is None:
                data.pop("columns", None)
            for column in data.get("columns") or []:
                if isinstance(column, dict) and column.get("categories") is None:
                    column.pop("categories", None)
                    column.pop("ordered", None)
                if isinstance(column, dict) and column.get("label") is None:
                    column.pop("label", None)
        return data


class Parity(BaseModel):
    """Result of running the exported module in a fresh process on ``example_input``."""

    status: Literal["passed", "failed", "skipped"]
    detail: str = ""
    max_abs_diff: float | None = None
    seconds: float | None = None


class FileChecksum(BaseModel):
    """One file of a version as export wrote it (``runtime.verify`` checks the version against these)."""

    size: int
    sha256: str


class VersionInfo(BaseModel):
    """``deployments/NAME/vN/version.json``: what a version is and where it came from."""

    name: str
    version: str = Field(description="'v1', 'v2', ...")
    content_hash: str
    parent: str | None = None
    created: str = Field(description="ISO 8601, UTC")
    notebook: str | None = Field(default=None, description="source notebook, relative to the project root")
    cell_ids: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict, description="from the magic line / tags")
    input_spec: TensorSpec | None = None
    artifacts: dict[str, str] = Field(default_factory=dict, description="variable name -> file under artifacts/")
    allow_pickle: bool = False
    requirements: list[str] = Field(default_factory=list)
    mlflow_run_id: str | None = None
    parity: Parity | None = None
    files: list[str] = Field(default_factory=list)
    checksums: dict[str, FileChecksum] | None = Field(
        default=None,
        description="relative path -> size and sha256 of every file but version.json (None: exported before "
        "per-file records; such a version is verified against content_hash)",
    )


class ExportResult(BaseModel):
    """What an export did: the version it produced (or found unchanged) and what changed."""

    info: VersionInfo
    path: str
    created: bool = Field(description="False when the content matched an existing version")
    changed_files: list[str] = Field(default_factory=list, description="relative to the parent version")
    manifests: str | None = Field(default=None, description="deploy/NAME/ when export regenerated it")
