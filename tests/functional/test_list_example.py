"""A plain-list ``example_input`` (``X[:4].tolist()``, rows of numbers) is an array in all but type.

Its input spec records the rows' shape (batch dimension -1) and dtype, so a request of the wrong width is a 400
with one line (not a 500 from inside ``predict``), v2 tensors are accepted, and ``jupyter-deploy predict`` maps a
table's numeric columns onto it; ``predict`` still receives a plain list of lists, as the notebook's function
expects (it asserts so). The notebook's own answers (``expected.json``) are the oracle; the server is KServe's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from notebooks import CLI, exported

pytestmark = [pytest.mark.kernel, pytest.mark.server, pytest.mark.slow]

CELLS = (
    "import json\n\nimport numpy as np\nimport pandas as pd\n\nrng = np.random.default_rng(3)\n"
    "X = rng.normal(size=(20, 6))\nweights = rng.normal(size=6)",
    "%%deploy example\nexample_input = X[:4].tolist()",
    "%%deploy predict\ndef predict(rows):\n"
    "    assert isinstance(rows, list) and all(isinstance(row, list) for row in rows), type(rows)\n"
    "    return [float(np.dot(row, weights)) for row in rows]",
    "rows = X[4:10]\n"
    "pd.DataFrame(rows, columns=[f'f{i}' for i in range(6)]).to_csv('rows.csv', index=False)\n"
    "with open('expected.json', 'w') as f:\n"
    "    json.dump({'rows': rows.tolist(), 'answers': predict(rows.tolist())}, f)",
)


def test_a_list_of_numeric_rows_is_checked_served_and_batch_predicted(project: Path) -> None:
    from jupyter_deploy.serving.local import start_server

    info = exported(project, *CELLS)
    assert info["input_spec"] == {"kind": "list", "dtype": "float64", "shape": [-1, 6]}
    oracle = json.loads((project / "expected.json").read_text())
    rows, answers = oracle["rows"], oracle["answers"]

    server = start_server(project, "m", port=0)
    try:
        v1 = httpx.post(server.v1_url, json={"instances": rows})
        assert v1.status_code == 200, v1.text
        assert np.allclose(v1.json()["predictions"], answers)
        whole = httpx.post(server.v1_url, json={"instances": [[int(v) for v in rows[0]]]})
        assert whole.status_code == 200, whole.text  # whole numbers are read as the example's floats
        v2 = httpx.post(
            server.v2_url, json={"inputs": [{"name": "x", "shape": [len(rows), 6], "datatype": "FP64", "data": rows}]}
        )
        assert v2.status_code == 200, v2.text
        assert np.allclose(v2.json()["outputs"][0]["data"], answers)

        narrow = httpx.post(server.v1_url, json={"instances": [row[:5] for row in rows[:2]]})
        assert narrow.status_code == 400, narrow.text
        assert narrow.json()["error"] == "expected inputs of shape [N, 6], got [2, 5]"
        v2_narrow = httpx.post(
            server.v2_url, json={"inputs": [{"name": "x", "shape": [2, 5], "datatype": "FP64", "data": [0.0] * 10}]}
        )
        assert v2_narrow.status_code == 400 and "[N, 6]" in v2_narrow.text, v2_narrow.text
        text = httpx.post(server.v1_url, json={"instances": [["a"] * 6]})
        assert text.status_code == 400 and "float64" in text.json()["error"], text.text
        assert "\n" not in text.json()["error"]
    finally:
        server.stop()

    done = subprocess.run(
        [*CLI, "predict", "m", "rows.csv", "--output", "out.csv", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = pd.read_csv(project / "out.csv")
    assert list(out.columns) == ["row", "prediction"]
    assert np.allclose(out["prediction"], answers)
