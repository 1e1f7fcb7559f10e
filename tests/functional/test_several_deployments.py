"""Two live deployments in one notebook: each version's example, predict, reference and input spec are its own.

Deployment ``a`` takes 3 features and is annotated with ``%%deploy`` magics; ``b`` takes 5x7 rows and is annotated
with cell tags. Their cells interleave, so after the notebook runs the kernel's ``example_input``,
``reference_input`` and ``predict`` belong to whichever cell bound them last: ``b``'s example and reference, ``a``'s
predict. Both are exported from real kernels (``export --execute``, and ``%deploy export`` in a notebook-like
session) and served by KServe's model server; the notebook's own answers (``expected.json``) are the oracle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from notebooks import exported_again, make_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.server, pytest.mark.slow]

CELLS: tuple[str | tuple[str, list[str]], ...] = (
    "import json\n\nimport numpy as np\n\nrng = np.random.default_rng(0)",
    "weights_a = rng.normal(size=3)\nweights_b = rng.normal(size=(7, 2))",
    "%%deploy example --name a\nexample_input = rng.normal(size=(4, 3))",
    "%%deploy reference --name a\nreference_input = rng.normal(size=(50, 3))",
    ("example_input = rng.normal(size=(5, 7))", ["deploy:example:b"]),
    ("reference_input = rng.normal(size=(60, 7)) + 10.0", ["deploy:reference:b"]),
    ("def predict(rows):\n    return (np.asarray(rows) @ weights_b).tolist()", ["deploy:predict:b"]),
    "%%deploy predict --name a\ndef predict(rows):\n    return (np.asarray(rows) @ weights_a).tolist()",
    # the notebook's own answers for both deployments (not part of either)
    "rows_a = rng.normal(size=(2, 3)).tolist()\nrows_b = rng.normal(size=(3, 7)).tolist()\n"
    "with open('expected.json', 'w') as f:\n"
    "    json.dump({'rows_a': rows_a, 'a': (np.asarray(rows_a) @ weights_a).tolist(),\n"
    "               'rows_b': rows_b, 'b': (np.asarray(rows_b) @ weights_b).tolist()}, f)",
)
WIDTH = {"a": 3, "b": 7}
EXAMPLE_ROWS = {"a": 4, "b": 5}
REFERENCE_ROWS = {"a": 50, "b": 60}


def check_versions(project: Path) -> None:
    """Each deployment's v1 carries its own example, spec, parity and reference profile, and answers its own
    requests (and refuses the other's) on a real server."""
    from jupyter_deploy.serving.local import start_server

    oracle = json.loads((project / "expected.json").read_text())
    for name, width in WIDTH.items():
        version = project / "deployments" / name / "v1"
        info = json.loads((version / "version.json").read_text())
        assert info["input_spec"] == {"kind": "numpy", "dtype": "float64", "shape": [-1, width]}, (name, info)
        assert info["parity"]["status"] == "passed", (name, info["parity"])
        example = np.load(version / "artifacts" / "example_input.npy")
        assert example.shape == (EXAMPLE_ROWS[name], width), name
        profile = json.loads((version / "artifacts" / "reference_profile.json").read_text())
        assert profile["inputs"]["rows"] == REFERENCE_ROWS[name], (name, profile["inputs"]["source"])
        assert profile["inputs"]["total_features"] == width
        means = [feature["mean"] for feature in profile["inputs"]["features"]]
        assert all((mean > 5) == (name == "b") for mean in means), (name, means)

        server = start_server(project, name, port=0)
        try:
            rows = oracle[f"rows_{name}"]
            answer = httpx.post(server.v1_url, json={"instances": rows})
            assert answer.status_code == 200, (name, answer.text)
            assert np.allclose(answer.json()["predictions"], oracle[name]), name
            v2 = httpx.post(
                server.v2_url,
                json={"inputs": [{"name": "x", "shape": [len(rows), width], "datatype": "FP64", "data": rows}]},
            )
            assert v2.status_code == 200, (name, v2.text)
            assert np.allclose(np.reshape(v2.json()["outputs"][0]["data"], np.shape(oracle[name])), oracle[name])
            other = oracle["rows_b" if name == "a" else "rows_a"]
            refused = httpx.post(server.v1_url, json={"instances": other})
            assert refused.status_code == 400 and f"[N, {width}]" in refused.json()["error"], (name, refused.text)
        finally:
            server.stop()


def test_export_execute_gives_each_deployment_its_own_values(project: Path) -> None:
    make_notebook(project / "m.ipynb", *CELLS)
    for name in WIDTH:
        exported_again(project, "--name", name)
    check_versions(project)


def test_deploy_export_in_a_kernel_gives_each_deployment_its_own_values(project: Path) -> None:
    """The cells run one by one as a front end sends them (their text, no tags), then ``%deploy export``
    reads the annotations from the saved notebook (``--notebook``) and, for ``a``, from the kernel's history."""
    from jupyter_client.manager import start_new_kernel

    make_notebook(project / "m.ipynb", *CELLS)
    manager, client = start_new_kernel(kernel_name="jupyter-deploy", cwd=str(project))
    try:

        def run(code: str) -> dict[str, Any]:
            reply: dict[str, Any] = client.execute_interactive(code, timeout=300)["content"]
            assert reply["status"] == "ok", (code[:60], reply.get("ename"), reply.get("evalue"))
            return reply

        for cell in CELLS:
            run(cell[0] if isinstance(cell, tuple) else cell)
        run("%deploy export a")  # the annotations from the history: the magics
        run("%deploy export b --notebook m.ipynb")  # the tags from the saved notebook
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    check_versions(project)


def test_a_cell_edited_after_it_ran_is_found_by_id_or_magic_name_or_named_in_one_line(project: Path) -> None:
    """What a front end does between runs: JupyterLab sends each cell's id (``a``'s example here), a ``%%deploy``
    cell records under its deployment's name (``b``'s), and a tagged cell edited since it ran, sent without an
    id (``c``'s), has no record: the kernel's ``example_input`` is ``b``'s, so export names the cell to run."""
    from jupyter_client.manager import start_new_kernel

    cells: dict[str, str | tuple[str, list[str]]] = {
        "c0": "import numpy as np",
        "c1": ("example_input = np.zeros((2, 3))", ["deploy:example:a"]),
        "c2": ("def predict(x):\n    return np.asarray(x).sum(axis=1).tolist()", ["deploy:predict:a"]),
        "c3": ("example_input = np.full((4, 2), 3.0)", ["deploy:example:c"]),
        "c4": ("def predict(x):\n    return np.asarray(x).max(axis=1).tolist()", ["deploy:predict:c"]),
        "c5": "%%deploy example --name b\nexample_input = np.ones((5, 7))",
        "c6": "%%deploy predict --name b\ndef predict(x):\n    return (np.asarray(x) * 2).sum(axis=1).tolist()",
    }

    def save(**edited: str) -> None:
        """The notebook as saved now: ``edited`` cells have an appended comment the kernel never ran."""
        made = []
        for cell_id, cell in cells.items():
            source, tags = cell if isinstance(cell, tuple) else (cell, [])
            made.append((source + edited.get(cell_id, ""), tags))
        make_notebook(project / "m.ipynb", *made)  # ids c0, c1, ... in this order

    manager, client = start_new_kernel(kernel_name="jupyter-deploy", cwd=str(project))
    try:

        def run(code: str, cell_id: str | None = None) -> dict[str, Any]:
            content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}}
            message = client.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
            client.shell_channel.send(message)
            while True:
                reply = client.get_shell_msg(timeout=300)
                if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                    return dict(reply["content"])

        for cell_id, cell in cells.items():
            source = cell[0] if isinstance(cell, tuple) else cell
            assert run(source, cell_id if cell_id == "c1" else None)["status"] == "ok", cell_id

        save(c1="  # edited", c5="  # edited")
        for name in ("a", "b"):
            reply = run(f"%deploy export {name} --notebook m.ipynb")
            assert reply["status"] == "ok", (name, reply.get("evalue"))
        save(c3="  # edited")
        refused = run("%deploy export c --notebook m.ipynb")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    for name, shape in (("a", [-1, 3]), ("b", [-1, 7])):
        info = json.loads((project / "deployments" / name / "v1" / "version.json").read_text())
        assert info["input_spec"]["shape"] == shape and info["parity"]["status"] == "passed", (name, info)
    assert refused["status"] == "error" and refused["ename"] == "UsageError", refused
    message = refused["evalue"]
    assert "example_input in the kernel was bound by cell 6 (id c5)" in message, message
    assert "deployment 'b'" in message and "'c' (cell 4 (id c3))" in message and "run that cell" in message, message
    assert "\n" not in message and not (project / "deployments" / "c").exists()
