"""Monitoring end to end: a notebook exported in a real kernel with its training features as the reference,
served by KServe's model server with --log-payloads, a thousand real v1 requests, then ``jupyter-deploy
monitor``: unshifted traffic passes, shifted traffic exits 3, with the HTML report and the MLflow run.

The oracles are independent of the monitor: the rows the test sent (the logs must hold exactly them), the
notebook's formula (the logged outputs), and scipy's exact two-sample KS on the raw training data (the
monitor only has the profile)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from notebooks import make_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.server, pytest.mark.mlflow, pytest.mark.slow]

WEIGHTS = np.array([1.0, 0.5, -1.0])
MEANS, SCALES = np.array([0.0, 5.0, -2.0]), np.array([1.0, 2.0, 0.5])
REQUESTS = 1000

CELLS = (
    "import numpy as np",
    "rng = np.random.default_rng(0)\n"
    "X_train = rng.normal(loc=[0.0, 5.0, -2.0], scale=[1.0, 2.0, 0.5], size=(5000, 3)).astype(np.float32)",
    "WEIGHTS = np.array([1.0, 0.5, -1.0], dtype=np.float32)",
    "%%deploy example --name drift\nexample_input = X_train[:3]",
    "%%deploy predict --name drift\ndef predict(x):\n    return (x * WEIGHTS).sum(axis=1, keepdims=True)",
)
# a second deployment whose reference comes from a reference cell (tag form) instead of --reference
TAGGED_CELLS = (
    *CELLS[:2],
    "%%deploy example --name tagged\nexample_input = X_train[:2]",
    "%%deploy predict --name tagged\ndef predict(x):\n    return x * 2.0",
    ("reference_input = X_train[:1000]", ["deploy:reference:tagged"]),
)


def training_features() -> np.ndarray:
    """The notebook's X_train, computed again here (same generator, same seed)."""
    rng = np.random.default_rng(0)
    return rng.normal(loc=[0.0, 5.0, -2.0], scale=[1.0, 2.0, 0.5], size=(5000, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The project, exported with ``--execute --reference X_train``, and two payload logs of REQUESTS real
    requests each: unshifted (JSON Lines) and feature 1 shifted by one standard deviation (Parquet)."""
    from jupyter_deploy.cli import main
    from jupyter_deploy.monitor.payloads import log_options
    from jupyter_deploy.serving.local import start_server

    root = tmp_path_factory.mktemp("monitor-project")
    make_notebook(root / "drift.ipynb", *CELLS)
    make_notebook(root / "tagged.ipynb", *TAGGED_CELLS)
    for notebook, extra in (("drift.ipynb", ["--reference", "X_train"]), ("tagged.ipynb", [])):
        assert main(["export", str(root / notebook), "--execute", "--root", str(root), *extra]) == 0
    rng = np.random.default_rng(7)
    sent: dict[str, np.ndarray] = {}
    for label, shift, log_format in (("steady", 0.0, "jsonl"), ("shifted", 2.0, "parquet")):
        rows = rng.normal(loc=MEANS, scale=SCALES, size=(REQUESTS, 3)).astype(np.float32)
        rows[:, 1] += shift
        sent[label] = rows
        server = start_server(root, "drift", port=0, payload_log=log_options(root / label, log_format))
        try:
            post_rows(server.port, "drift", rows)
            if log_format == "jsonl":  # written while serving, off the request path: visible before the stop
                wait_for_lines(root / label, REQUESTS)
        finally:
            server.stop()
    yield {"root": root, "sent": sent}


def post_rows(port: int, name: str, rows: np.ndarray) -> None:
    """One v1 request per row over one keep-alive connection, answers checked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for row in rows:
            body = json.dumps({"instances": [row.tolist()]})
            connection.request("POST", f"/v1/models/{name}:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            assert response.status == 200, answer[:300]
    finally:
        connection.close()


def wait_for_lines(directory: Path, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    lines = 0
    while time.monotonic() < deadline:
        lines = sum(path.read_text().count("\n") for path in directory.glob("*.jsonl"))
        if lines >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {lines} of {count} requests logged in {timeout} s")


def run_count(client: Any) -> int:
    return len(client.search_runs([experiment.experiment_id for experiment in client.search_experiments()]))


def monitor(root: Path, *arguments: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from jupyter_deploy.cli import main

    capsys.readouterr()
    code = main(["monitor", *arguments, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_version_holds_a_profile_of_the_reference(monitored: dict[str, Any]) -> None:
    root = monitored["root"]
    profile = json.loads((root / "deployments/drift/v1/artifacts/reference_profile.json").read_text())
    inputs = profile["inputs"]
    assert inputs["source"] == "X_train" and inputs["rows"] == 5000 and inputs["total_features"] == 3
    reference = training_features()
    for feature in inputs["features"]:
        column = reference[:, int(feature["name"])].astype(np.float64)
        assert feature["kind"] == "numeric" and feature["count"] == 5000
        assert feature["mean"] == pytest.approx(column.mean(), abs=1e-6)
        assert sum(feature["histogram"]["counts"]) == 5000
    assert profile["outputs"]["source"].startswith("predictions on X_train (2000 rows")
    tagged = json.loads((root / "deployments/tagged/v1/artifacts/reference_profile.json").read_text())
    assert tagged["inputs"]["source"] == "reference_input" and tagged["inputs"]["rows"] == 1000
    assert "reference_input" not in (root / "deployments/tagged/v1/predictor.py").read_text()


def test_served_requests_are_logged_as_sent(monitored: dict[str, Any]) -> None:
    from jupyter_deploy.monitor.payloads import read_payloads

    root, sent = monitored["root"], monitored["sent"]
    for label in ("steady", "shifted"):
        logged = read_payloads(root / label, "drift")
        assert logged.requests == REQUESTS and logged.versions == {"v1": REQUESTS}
        inputs = np.array([logged.inputs[str(k)] for k in range(3)]).T
        # requests arrive one at a time, in order: the log holds exactly the rows sent, as float32
        np.testing.assert_array_equal(np.sort(inputs, axis=0), np.sort(sent[label].astype(np.float64), axis=0))
        outputs = np.array(logged.outputs["0"])
        expected = (sent[label] * WEIGHTS.astype(np.float32)).sum(axis=1)
        np.testing.assert_allclose(np.sort(outputs), np.sort(expected), rtol=1e-5, atol=1e-5)
    assert any(path.suffix == ".parquet" for path in (root / "shifted").iterdir())
    assert not list((root / "shifted").glob("*.part"))


def test_unshifted_traffic_is_not_flagged(monitored: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from scipy.stats import ks_2samp

    root = monitored["root"]
    code, out, err = monitor(root, "drift", "--payloads", str(root / "steady"), "--json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert not result["drifted"] and result["requests"] == REQUESTS and result["judged"] == 4
    reference, sent = training_features(), monitored["sent"]["steady"]
    for feature in result["features"]:
        assert feature["psi"] < 0.1, feature
        if feature["side"] == "input":  # the profile's KS is the exact two-sample KS within a percentile
            exact = ks_2samp(reference[:, int(feature["name"])], sent[:, int(feature["name"])]).statistic
            assert feature["statistic"] == pytest.approx(exact, abs=0.011)


def test_shifted_traffic_is_flagged_reported_and_logged_to_mlflow(
    monitored: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.tracking import MlflowClient

    root = monitored["root"]
    report = root / "reports" / "drift.html"
    code, out, err = monitor(
        root, "drift@v1", "--payloads", str(root / "shifted"), "--html", str(report), capsys=capsys
    )
    assert code == 3, err
    assert "DRIFT" in out and "! input.1" in out and "! input.0" not in out and "! input.2" not in out
    assert "! output.0" in out  # the outputs move with feature 1
    page = report.read_text()
    assert page.count("<svg") == 4 and "input.1" in page and "DRIFT" in page

    run_id = out.split("MLflow run: ")[1].split()[0]
    client = MlflowClient(tracking_uri=f"sqlite:///{(root / 'mlflow.db').as_posix()}")
    run = client.get_run(run_id)
    metrics = run.data.metrics
    assert metrics["drift.detected"] == 1.0 and metrics["drift.features_drifted"] == 2.0
    assert metrics["drift.input.1.psi"] >= 0.2 and metrics["drift.input.0.psi"] < 0.1
    assert 0 <= metrics["drift.input.1.p_value"] < 1e-6
    assert run.data.tags["jupyter_deploy.kind"] == "monitor" and run.data.tags["jupyter_deploy.version"] == "v1"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "jupyter-deploy/drift"
    artifacts = {item.path for item in client.list_artifacts(run_id, "monitor")}
    assert artifacts == {"monitor/drift.json", "monitor/drift.html"}


def test_bad_payloads_are_one_line_and_write_nothing(
    monitored: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.tracking import MlflowClient

    root = monitored["root"]
    client = MlflowClient(tracking_uri=f"sqlite:///{(root / 'mlflow.db').as_posix()}")
    runs_before = run_count(client)
    report = tmp_path / "report.html"
    empty = tmp_path / "empty"
    empty.mkdir()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    broken_json = tmp_path / "broken"
    broken_json.mkdir()
    (broken_json / "a.jsonl").write_text('{"deployment": "drift", "inputs": []}\nnot json\n{"x": 1}\n')
    cases = [
        (["tagged", "--payloads", str(root / "steady")], "holds payloads of deployment 'drift', not 'tagged'"),
        (["drift", "--payloads", str(empty)], "no payload files"),
        (["drift", "--payloads", str(tmp_path / "missing")], "no payload directory"),
        (["drift", "--payloads", str(damaged)], "cannot read payload file"),
        (["drift", "--payloads", str(broken_json)], "a.jsonl line 2 is not JSON"),
        (["drift", "--payloads", str(root / "steady"), "--threshold", "0"], "--threshold must be a positive"),
        (["nothere", "--payloads", str(root / "steady")], "has no versions"),
    ]
    for arguments, message in cases:
        code, out, err = monitor(root, *arguments, "--html", str(report), capsys=capsys)
        assert code == 1, (arguments, out, err)
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert not report.exists()
    assert run_count(client) == runs_before


def test_bad_serve_and_export_options_are_one_line(
    monitored: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jupyter_deploy.cli import main

    root = monitored["root"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    capsys.readouterr()
    assert main(["serve", "drift", "--root", str(root), "--log-payloads", str(a_file)]) == 1
    assert "this is a file; give a directory" in capsys.readouterr().err
    assert main(["export", str(root / "drift.ipynb"), "--name", "drift", "--reference", "X_train"]) == 1
    assert "add --execute" in capsys.readouterr().err


def test_magic_export_profiles_a_kernel_variable_and_is_deterministic(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``%deploy export NAME --reference VAR`` in a live kernel (its history as the cells)."""
    from jupyter_client.manager import start_new_kernel

    # the kernel's project root is its working directory, whatever the test process was started with
    monkeypatch.delenv("JD_PROJECT_ROOT", raising=False)

    manager, client = start_new_kernel(kernel_name="jupyter-deploy", cwd=str(project))

    def run(code: str) -> tuple[str, str] | None:
        reply = client.execute_interactive(code, timeout=240, output_hook=lambda message: None)["content"]
        return (reply["ename"], reply["evalue"]) if reply["status"] == "error" else None

    try:
        assert run("import numpy as np\nX = np.random.default_rng(1).normal(size=(500, 2))") is None
        assert run("%%deploy example --name magic\nexample_input = X[:2]") is None
        assert run("%%deploy predict --name magic\ndef predict(x):\n    return x + 1") is None
        assert run("%deploy export magic --reference X") is None
        # the same data profiles to the same bytes: a second export finds the version unchanged
        assert run("%deploy export magic --reference X") is None
        error = run("%deploy export magic --reference nothere")
        assert error is not None and error[0] == "UsageError" and "'nothere' is not defined in the kernel" in error[1]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    versions = sorted(path.name for path in (project / "deployments" / "magic").iterdir() if path.name[0] == "v")
    assert versions == ["v1"]
    profile = json.loads((project / "deployments/magic/v1/artifacts/reference_profile.json").read_text())
    assert profile["inputs"]["source"] == "X" and profile["inputs"]["rows"] == 500
    assert [feature["name"] for feature in profile["outputs"]["features"]] == ["0", "1"]
    reference = np.random.default_rng(1).normal(size=(500, 2))
    assert profile["outputs"]["features"][1]["mean"] == pytest.approx(reference[:, 1].mean() + 1, abs=1e-9)
