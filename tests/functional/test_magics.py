"""``%%deploy`` and ``%deploy`` in a real jupyter-deploy kernel (jupyter_client, no mocks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

pytestmark = pytest.mark.kernel


class Kernel:
    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, code: str) -> dict[str, Any]:
        """Execute ``code``; return its text output, HTML output and error (if any)."""
        outputs: dict[str, Any] = {"text": "", "html": "", "error": None}

        def hook(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                outputs["text"] += content["text"]
            elif kind in ("display_data", "execute_result"):
                data = content["data"]
                outputs["text"] += data.get("text/plain", "")
                outputs["html"] += data.get("text/html", "")
                if "application/vnd.jupyter.widget-view+json" in data:
                    outputs["widget"] = True
            elif kind == "error":
                outputs["error"] = (content["ename"], content["evalue"])

        reply = self.client.execute_interactive(code, output_hook=hook, timeout=240)["content"]
        if reply["status"] == "error":  # UsageError is reported in the reply, not on iopub
            outputs["error"] = (reply["ename"], reply["evalue"])
        return outputs


@pytest.fixture
def kernel(project: Path) -> Iterator[Kernel]:
    manager, client = start_new_kernel(kernel_name="jupyter-deploy", cwd=str(project))
    try:
        yield Kernel(client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_deploy_cell_runs_and_export_captures_live_values(kernel: Kernel, project: Path) -> None:
    assert kernel.run("import numpy as np\nweights = np.arange(3.0)\nOFFSET = 1.5")["error"] is None
    ran = kernel.run("%%deploy example --name dot\nexample_input = [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]\nprint('ran')")
    assert ran["text"].strip() == "ran"
    kernel.run(
        "%%deploy predict --name dot\ndef predict(rows):\n    return (np.asarray(rows) @ weights + OFFSET).tolist()"
    )
    exported = kernel.run("%deploy export dot")
    assert exported["error"] is None, exported
    assert exported.get("widget") and "dot: exported v1" in exported["text"]

    version = project / "deployments" / "dot" / "v1"
    info = json.loads((version / "version.json").read_text())
    assert info["artifacts"] == {"weights": "weights.npy"}
    assert info["parity"]["status"] == "passed"
    assert json.loads((version / "artifacts" / "example_output.json").read_text()) == [4.5, 6.5]
    assert "OFFSET = 1.5" in (version / "predictor.py").read_text()

    again = kernel.run("%deploy export dot")
    assert "unchanged, same as v1" in again["text"]
    listing = kernel.run("%deploy versions dot")
    assert "* v1" in listing["text"]


def test_rerunning_a_cell_exports_what_ran_last(kernel: Kernel, project: Path) -> None:
    kernel.run("%%deploy example --name twice\nexample_input = [1, 2]")
    kernel.run("%%deploy predict --name twice\ndef predict(x):\n    return [v * 2 for v in x]")
    kernel.run("%deploy export twice")
    kernel.run("%%deploy predict --name twice\ndef predict(x):\n    return [v * 3 for v in x]")
    second = kernel.run("%deploy export twice")
    assert "exported v2" in second["text"]
    diff = kernel.run("%deploy diff twice v1 v2")["text"]
    assert "-    return [v * 2 for v in x]" in diff and "+    return [v * 3 for v in x]" in diff


def test_errors_are_usage_errors_that_say_what_to_fix(kernel: Kernel, project: Path) -> None:
    assert kernel.run("%%deploy predcit\nx = 1")["error"] == (
        "UsageError",
        "unknown role 'predcit': use one of predict, load, preprocess, postprocess, example, reference",
    )
    kernel.run("class Opaque:\n    pass\nthing = Opaque()")
    kernel.run("%%deploy example --name opaque\nexample_input = [1]")
    kernel.run("%%deploy predict --name opaque\ndef predict(x):\n    return [repr(thing)]")
    refused = kernel.run("%deploy export opaque")
    assert refused["error"][0] == "UsageError"
    assert "'thing' is a __main__.Opaque" in refused["error"][1] and "--allow-pickle" in refused["error"][1]
    assert not (project / "deployments" / "opaque").exists() or not any(
        p.name.startswith("v") for p in (project / "deployments" / "opaque").iterdir()
    )
    missing = kernel.run("%deploy export nosuch")
    assert "no deployment named 'nosuch'" in missing["error"][1]


def test_allow_pickle_is_explicit_and_loud(kernel: Kernel, project: Path) -> None:
    kernel.run("from fractions import Fraction\nthing = Fraction(1, 3)")
    kernel.run("%%deploy example --name pickled\nexample_input = [3, 6]")
    kernel.run("%%deploy predict --name pickled\ndef predict(x):\n    return [float(v * thing) for v in x]")
    exported = kernel.run("%deploy export pickled --allow-pickle")
    assert "WARNING: 'thing' is saved with pickle" in exported["text"]
    info = json.loads((project / "deployments" / "pickled" / "v1" / "version.json").read_text())
    assert info["allow_pickle"] is True and info["artifacts"] == {"thing": "thing.pkl"}
    assert info["parity"]["status"] == "passed"


def test_deploy_manifests_in_the_kernel_writes_what_the_cli_writes(
    kernel: Kernel, project: Path, tmp_path: Path
) -> None:
    """``%deploy manifests`` and ``jupyter-deploy manifests`` run the same function: the same files, byte for byte,
    the same ``--json`` answer; bad flags are one line and write nothing."""
    import shutil
    import subprocess
    import sys

    kernel.run("%%deploy example --name twice\nexample_input = [1.0, 2.0]")
    kernel.run("%%deploy predict --name twice\ndef predict(x):\n    return [v * 2 for v in x]")
    assert kernel.run("%deploy export twice")["error"] is None

    refused = kernel.run("%deploy manifests twice --gpu -1")
    assert refused["error"] is not None and "--gpu" in refused["error"][1]
    assert not (project / "deploy").exists()

    written = kernel.run("%deploy manifests twice --gpu 1 --json")
    assert written["error"] is None, written
    answer = json.loads(written["text"])
    assert answer["name"] == "twice" and answer["version"] == "v1" and answer["changed"] is True
    in_kernel = {
        path.relative_to(project): path.read_bytes() for path in (project / "deploy").rglob("*") if path.is_file()
    }
    assert "deploy/twice/base/inferenceservice.yaml" in {str(path) for path in in_kernel}

    copy = tmp_path / "copy"
    shutil.copytree(project / "deployments", copy / "deployments")
    cli = Path(sys.executable).parent / "jupyter-deploy"
    ran = subprocess.run(
        [str(cli), "manifests", "twice", "--gpu", "1", "--json", "--root", str(copy)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    by_cli = {path.relative_to(copy): path.read_bytes() for path in (copy / "deploy").rglob("*") if path.is_file()}
    assert in_kernel == by_cli
    assert json.loads(ran.stdout.replace(str(copy), "ROOT")) == json.loads(
        written["text"].replace(str(project), "ROOT")
    )
    assert "unchanged" in kernel.run("%deploy manifests twice --gpu 1")["text"]
