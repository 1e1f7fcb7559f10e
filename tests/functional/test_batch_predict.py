"""``jupyter-deploy predict``: real exported versions over CSV, Parquet and JSON Lines files, run as a user runs
them (the CLI in a subprocess). Oracles: the notebook's own computation (its formula re-run here, or what
an executed notebook wrote to expected.json), and the version's predictor called directly on the same rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from notebooks import make_notebook

DATA = Path(__file__).resolve().parents[1] / "data"
CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]

# a predictor that logs the rows it sees (when SEEN_LOG is set), fails on rows from FAIL_FROM on (when set) and
# takes 0.2 s a call: resuming must skip what a killed or failed run checkpointed
LOGGING = (
    "import os\nimport time\n\nimport numpy as np",
    "%%deploy example --name logged\nexample_input = np.zeros((2, 3), dtype=np.float64)",
    "%%deploy predict --name logged\ndef predict(x):\n"
    "    fail = os.environ.get('FAIL_FROM')\n"
    "    if fail and (x[:, 0] >= float(fail)).any():\n"
    "        raise RuntimeError('asked to fail')\n"
    "    log = os.environ.get('SEEN_LOG')\n"
    "    if log:\n"
    "        with open(log, 'a') as f:\n"
    "            f.write(''.join(f'{int(v)}\\n' for v in x[:, 0]))\n"
    "    time.sleep(0.2)\n"
    "    return x.sum(axis=1) * 10.0",
)


def predict(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "predict", *args, "--root", str(root)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def ok(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scale (numpy, 3 features), tiny (torch, 4 features) and logged, exported statically (no kernel)."""
    from jupyter_deploy.versions.export import export_notebook

    project = tmp_path_factory.mktemp("batch-project").resolve()
    for notebook in ("serve_scale.ipynb", "serve_torch.ipynb"):
        export_notebook(DATA / notebook, root=project)
    export_notebook(make_notebook(project / "logged.ipynb", *LOGGING), root=project)
    return project


def tiny_oracle(features: np.ndarray) -> np.ndarray:
    """The notebook's own cells (serve_torch.ipynb), run here: its seeded network on the same rows."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        return net(torch.from_numpy(features.astype(np.float32))).softmax(-1).numpy()


def test_torch_version_over_csv_parquet_and_jsonl_matches_notebook_and_predictor(root: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2500, 4)).astype(np.float32)
    frame = pd.DataFrame(features, columns=["a", "b", "c", "d"])
    frame.insert(0, "customer", [f"c{i}" for i in range(len(frame))])
    frame.to_csv(root / "rows.csv", index=False)
    frame.to_parquet(root / "rows.parquet", index=False)
    frame.to_json(root / "rows.jsonl", orient="records", lines=True, double_precision=15)
    wanted = tiny_oracle(features)
    for source, target in (("rows.csv", "out.parquet"), ("rows.parquet", "out.jsonl"), ("rows.jsonl", "out.csv")):
        result = ok(
            predict(root, "tiny", source, "--output", target, "--key", "customer", "--batch-size", "300", "--json")
        )
        assert result["rows"] == 2500 and result["computed_rows"] == 2500 and result["version"] == "v1"
        out = {
            "out.parquet": pd.read_parquet,
            "out.jsonl": lambda p: pd.read_json(p, lines=True),
            "out.csv": pd.read_csv,
        }[target](root / target)
        assert list(out.columns) == ["customer", "prediction_0", "prediction_1", "prediction_2"]
        assert out["customer"].tolist() == frame["customer"].tolist()
        np.testing.assert_allclose(out.iloc[:, 1:].to_numpy(), wanted, rtol=1e-5, atol=1e-7)
        assert not (root / f".{target}.partial").exists()

    # the version's own predictor on the same rows, called directly: the same numbers, exactly (Parquet)
    from jupyter_deploy.versions.batchcheck import load_predictor_class

    model = load_predictor_class(root / "deployments/tiny/v1")()
    model.load()
    import torch

    direct = model.infer(torch.from_numpy(features[:700])).numpy()
    np.testing.assert_array_equal(pd.read_parquet(root / "out.parquet").iloc[:700, 1:].to_numpy(), direct)


def test_default_keys_are_the_row_position_for_arrays(root: Path) -> None:
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    pd.DataFrame(rows, columns=["x", "y", "z"]).to_parquet(root / "plain.parquet", index=False)
    ok(predict(root, "scale", "plain.parquet", "--output", "plain-out.csv", "--json"))
    out = pd.read_csv(root / "plain-out.csv")
    assert out["row"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(out[["prediction_0", "prediction_1", "prediction_2"]].to_numpy(), rows * 2.0 + 1.0)


def test_a_killed_run_resumes_after_its_last_checkpoint(root: Path, tmp_path: Path) -> None:
    rows = np.stack([np.arange(40), np.ones(40), np.full(40, 2.0)], axis=1)
    pd.DataFrame(rows, columns=["i", "one", "two"]).to_csv(root / "slow.csv", index=False)
    output = root / "slow-out.parquet"
    sidecar = root / ".slow-out.parquet.partial"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    args = ["logged", "slow.csv", "--output", str(output), "--batch-size", "4", "--checkpoint-every", "0", "--json"]
    process = subprocess.Popen(
        [*CLI, "predict", *args, "--root", str(root)],
        cwd=root,
        env={**os.environ, "SEEN_LOG": str(first_log)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not list(sidecar.glob("rows-*.parquet")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not output.exists()
    checkpointed = sorted(sidecar.glob("rows-*.parquet"))
    assert checkpointed, "no checkpoint appeared before the kill"
    done = max(int(path.name.split("-")[2].split(".")[0]) for path in checkpointed)
    assert 0 < done < 40

    result = ok(predict(root, *args, env={"SEEN_LOG": str(second_log)}))
    assert result["resumed_rows"] >= done and result["computed_rows"] == 40 - result["resumed_rows"]
    seen_again = [int(line) for line in second_log.read_text().split()]
    assert seen_again == list(range(result["resumed_rows"], 40))  # finished chunks were not recomputed
    out = pd.read_parquet(output)
    assert out["prediction"].tolist() == [(i + 3.0) * 10.0 for i in range(40)]  # the notebook's formula
    assert not sidecar.exists()

    # a changed input starts over (the same output asked for again, after a kill)
    pd.DataFrame(rows + 1, columns=["i", "one", "two"]).to_csv(root / "slow.csv", index=False)
    (sidecar).mkdir()
    (sidecar / "manifest.json").write_text(json.dumps({"rows": 40}))
    again = ok(predict(root, *args[:-1], "--overwrite", "--json"))
    assert again["started_over"] and again["resumed_rows"] == 0
    assert pd.read_parquet(output)["prediction"].tolist() == [(i + 6.0) * 10.0 for i in range(40)]


def slow_rows(root: Path, name: str, count: int) -> None:
    """``count`` rows for the logged predictor: column i is the row's position (its prediction: (i + 3) * 10)."""
    rows = np.stack([np.arange(count), np.ones(count), np.full(count, 2.0)], axis=1)
    pd.DataFrame(rows, columns=["i", "one", "two"]).to_csv(root / name, index=False)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jupyter-deploy: error: ") and "Traceback" not in done.stderr
    return lines[0]


def test_a_second_predict_on_the_same_output_is_refused_while_the_first_runs(root: Path, tmp_path: Path) -> None:
    """Two real processes on one output: the second says who holds it and touches nothing; the first finishes."""
    slow_rows(root, "race.csv", 60)
    output = root / "race-out.parquet"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    args = ["logged", "race.csv", "--output", str(output), "--batch-size", "4", "--checkpoint-every", "0"]
    first = subprocess.Popen(
        [*CLI, "predict", *args, "--root", str(root)],
        cwd=root,
        env={**os.environ, "SEEN_LOG": str(first_log)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (first_log.exists() and first_log.read_text()) and first.poll() is None:
            assert time.monotonic() < deadline, "the first predict never started predicting"
            time.sleep(0.05)
        second = predict(root, *args, env={"SEEN_LOG": str(second_log)})
        first_out, first_err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    line = one_error_line(second)
    assert f"{output} is being written by another predict (pid {first.pid})" in line, line
    assert not second_log.exists()  # the second predicted nothing
    assert first.returncode == 0, first_out + first_err
    assert pd.read_parquet(output)["prediction"].tolist() == [(i + 3.0) * 10.0 for i in range(60)]
    assert [path.name for path in root.iterdir() if "race-out" in path.name] == ["race-out.parquet"]


def test_a_damaged_checkpoint_is_recomputed_with_a_note(root: Path, tmp_path: Path) -> None:
    slow_rows(root, "damaged.csv", 40)
    output = root / "damaged-out.parquet"
    sidecar = root / ".damaged-out.parquet.partial"
    args = ["logged", "damaged.csv", "--output", str(output), "--batch-size", "4", "--checkpoint-every", "0"]
    failed = predict(root, *args, env={"FAIL_FROM": "20"})  # rows 0-19 predicted and checkpointed, then a failure
    assert failed.returncode == 1 and "asked to fail" in failed.stderr, failed.stderr
    chunks = sorted(sidecar.glob("rows-*.parquet"))
    assert [path.name for path in chunks][:3] == [f"rows-{a:012d}-{a + 4:012d}.parquet" for a in (0, 4, 8)]
    damaged = chunks[2]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # a write cut short

    seen = tmp_path / "seen.log"
    done = predict(root, *args, "--json", env={"SEEN_LOG": str(seen)})
    result = ok(done)
    notes = done.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("jupyter-deploy: note: ") and damaged.name in notes[0], notes
    assert result["resumed_rows"] == 8 and result["computed_rows"] == 32
    assert [int(line) for line in seen.read_text().split()] == list(range(8, 40))  # from the damaged range on
    assert pd.read_parquet(output)["prediction"].tolist() == [(i + 3.0) * 10.0 for i in range(40)]
    assert not sidecar.exists()


def test_an_unwritable_output_is_refused_before_anything_is_predicted(root: Path, tmp_path: Path) -> None:
    """Tests run as root, whom file modes do not stop: the output goes into a directory of /proc, where nobody
    can create a file (the kernel refuses it), so the place is truly unwritable."""
    slow_rows(root, "nowhere.csv", 8)
    seen = tmp_path / "seen.log"
    target = Path("/proc/1/predictions.csv")
    done = predict(root, "logged", "nowhere.csv", "--output", str(target), env={"SEEN_LOG": str(seen)})
    line = one_error_line(done)
    assert f"cannot write {target}" in line, line
    assert not seen.exists()  # refused before the first row was predicted


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("garbage", ["bad.parquet", "--output", "o.csv"], "cannot read"),
        ("few", ["few.csv", "--output", "o.csv"], "missing feature columns"),
        ("many", ["many.csv", "--output", "o.csv"], "unexpected columns"),
        ("many", ["many.csv", "--output", "o.csv", "--key", "nope"], "key columns 'nope' are not in the input"),
        ("exists", ["few.csv", "--output", "taken.csv"], "exists: pass --overwrite"),
        ("few", ["few.csv", "--output", "o.xlsx"], "unknown format"),
        ("few", ["absent.csv", "--output", "o.csv"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(root: Path, setup: str, args: list[str], message: str) -> None:
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_csv(root / "few.csv", index=False)
    pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0], "e": [5.0]}).to_csv(root / "many.csv", index=False)
    (root / "bad.parquet").write_bytes(b"this is not parquet at all")
    (root / "taken.csv").write_text("keep me\n")
    done = predict(root, "tiny", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jupyter-deploy: error: ") and message in lines[0], done.stderr
    assert not (root / "o.csv").exists() and not list(root.glob(".o.*"))
    assert (root / "taken.csv").read_text() == "keep me\n"


def test_the_version_runs_a_shard_without_jupyter_deploy(root: Path, tmp_path: Path) -> None:
    """The in-cluster entry point (``python -m _jd_runtime.batch``), with jupyter_deploy made unimportable."""
    blocker = tmp_path / "blocker" / "jupyter_deploy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('a version must run without jupyter_deploy')\n")
    features = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    pd.DataFrame(features, columns=list("abcd")).to_parquet(tmp_path / "in.parquet", index=False)
    version = root / "deployments/tiny/v1"
    parts = []
    shard_args = ["--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--shards", "3"]
    for index in range(3):
        done = subprocess.run(
            [sys.executable, "-m", "_jd_runtime.batch", *shard_args],
            cwd=version,
            env={**os.environ, "PYTHONPATH": str(blocker.parent), "JOB_COMPLETION_INDEX": str(index)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["rows"] == len(range(10 * index // 3, 10 * (index + 1) // 3))
        parts.append(pd.read_parquet(tmp_path / "out" / f"part-{index:05d}.parquet"))
    joined = pd.concat(parts, ignore_index=True)
    assert joined["row"].tolist() == list(range(10))
    np.testing.assert_allclose(joined.iloc[:, 1:].to_numpy(), tiny_oracle(features), rtol=1e-5, atol=1e-7)
    unindexed = subprocess.run(
        [sys.executable, "-m", "_jd_runtime.batch", "--input", "x.parquet", "--output", "o", "--shards", "2"],
        cwd=version,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "JOB_COMPLETION_INDEX"},
    )
    assert unindexed.returncode == 1 and "JOB_COMPLETION_INDEX is not set" in unindexed.stderr


SKLEARN = (
    "import json\n\nimport numpy as np\nimport pandas as pd\nfrom sklearn.compose import ColumnTransformer\n"
    "from sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import OneHotEncoder, StandardScaler",
    "iris = load_iris(as_frame=True)\n"
    "frame = iris.data.rename(columns=lambda c: c.replace(' (cm)', '').replace(' ', '_'))\n"
    "frame['size'] = np.where(frame['sepal_length'] > 5.8, 'big', 'small')\n"
    "labels = iris.target_names[iris.target].astype(object)\n"
    "numeric = [c for c in frame.columns if c != 'size']",
    "model = Pipeline([\n"
    "    ('prep', ColumnTransformer([('num', StandardScaler(), numeric),\n"
    "                                ('cat', OneHotEncoder(handle_unknown='ignore'), ['size'])])),\n"
    "    ('clf', LogisticRegression(max_iter=500)),\n"
    "]).fit(frame, labels)",
    "%%deploy example\nexample_input = frame.iloc[[0, 1, 2]]",
    "%%deploy predict\ndef predict(rows):\n"
    "    return pd.DataFrame({'label': model.predict(rows), 'p': model.predict_proba(rows).max(axis=1)})",
    # the notebook's own answers on every row, and the rows as a file with an id column (in another order)
    "table = frame.assign(flower=[f'f{i}' for i in range(len(frame))])[['flower', 'size', *numeric]]\n"
    "table.to_csv('flowers.csv', index=False)\n"
    "answer = predict(frame)\n"
    "with open('expected.json', 'w') as f:\n"
    "    json.dump({'label': answer['label'].tolist(), 'p': answer['p'].tolist()}, f)",
)


def test_dataframe_deployment_from_a_kernel(tmp_path: Path) -> None:
    project = tmp_path.resolve()
    make_notebook(project / "m.ipynb", *SKLEARN)
    done = subprocess.run(
        [*CLI, "export", "m.ipynb", "--execute", "--json"], cwd=project, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["info"]["input_spec"]["kind"] == "dataframe"
    result = ok(predict(project, "m", "flowers.csv", "--output", "labels.jsonl", "--batch-size", "64", "--json"))
    assert result["columns"] == ["flower", "label", "p"]
    out = pd.read_json(project / "labels.jsonl", lines=True)
    wanted = json.loads((project / "expected.json").read_text())
    assert out["flower"].tolist() == [f"f{i}" for i in range(150)]
    assert out["label"].tolist() == wanted["label"]
    np.testing.assert_allclose(out["p"].to_numpy(), wanted["p"], rtol=1e-12)

    table = pd.read_csv(project / "flowers.csv")
    table.drop(columns=["petal_width"]).to_csv(project / "missing.csv", index=False)
    table.assign(colour="red").to_csv(project / "extra.csv", index=False)
    for source, extra, message in (
        ("missing.csv", [], "missing feature columns 'petal_width'"),
        ("extra.csv", ["--key", "flower"], "unexpected columns 'colour'"),
    ):
        refused = predict(project, "m", source, "--output", "x.csv", *extra)
        assert refused.returncode == 1 and message in refused.stderr and "Traceback" not in refused.stderr
        assert not (project / "x.csv").exists()
