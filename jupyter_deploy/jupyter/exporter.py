"""``jupyter nbconvert --to predictor NOTEBOOK``: the nbconvert front door to a static export.

nbconvert hands exporters a notebook node, not a path, so the node is exported from a temporary copy;
the output is the generated ``predictor.py`` text, and the version is written under the project root
(the working directory) like ``jupyter-deploy export`` does.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nbconvert.exporters import Exporter
from traitlets import Unicode


class PredictorExporter(Exporter):
    """Export the notebook's deployment as a versioned KServe predictor; output is predictor.py."""

    export_from_notebook = "KServe predictor"
    output_mimetype = "text/x-python"
    deployment = Unicode(None, allow_none=True, help="deployment name when the notebook has several").tag(config=True)
    root = Unicode(".", help="project root holding deployments/").tag(config=True)

    def _file_extension_default(self) -> str:
        return ".py"

    def from_notebook_node(  # type: ignore[override]  # nbconvert exporters return text, not a node
        self, nb: Any, resources: dict | None = None, **kw: Any
    ) -> tuple[str, dict]:
        import nbformat

        from ..versions.export import export_notebook

        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        name = (resources.get("metadata") or {}).get("name") or "notebook"
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"{name}.ipynb"
            nbformat.write(nb_copy, path)
            result = export_notebook(path, os.path.abspath(self.root), self.deployment)
        resources["jupyter_deploy"] = result.model_dump(mode="json")
        return (Path(result.path) / "predictor.py").read_text(encoding="utf-8"), resources
