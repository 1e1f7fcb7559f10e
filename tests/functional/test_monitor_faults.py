"""``monitor`` on logs that are not what the runtime writes, and on a report it cannot write: one line naming
the file (and the line), exit 1, no traceback, nothing written.

A record the runtime would never write stops the run instead of being skipped and counted: drift judged on
the part of a directory that could be read would look like an answer while the directory holds something
else (another tool's logs, a damaged copy). Real parts: a version exported from tests/data/serve_scale.ipynb,
a good log written by the runtime's ``PayloadLog`` beside each bad file, the CLI's ``main``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD = {"deployment": "scale", "version": "v1", "input_columns": ["0", "1", "2"], "inputs": [[1.0, 2.0, 3.0]]}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jupyter_deploy.versions.export import export_notebook

    project = tmp_path_factory.mktemp("monitor-faults").resolve()
    export_notebook(DATA / "serve_scale.ipynb", root=project)
    return project


def logs_with(directory: Path, bad_line: str) -> Path:
    """A directory with a good log of 40 requests (the runtime's writer) and a file whose third line is bad."""
    from jupyter_deploy.runtime.payload_log import PayloadLog

    log = PayloadLog(directory, "scale", "v1")
    for row in np.arange(120, dtype=np.float64).reshape(40, 3):
        log.record({"instances": [row.tolist()]}, None, row[None, :], row[None, :] * 2.0 + 1.0)
    log.close()
    good = json.dumps(GOOD)
    (directory / "zz-bad.jsonl").write_text(f"{good}\n{good}\n{bad_line}\n{good}\n")
    return directory


def monitor(root: Path, *arguments: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from jupyter_deploy.cli import main

    capsys.readouterr()
    code = main(["monitor", "scale", *arguments, "--root", str(root), "--no-mlflow"])
    return code, capsys.readouterr().err


BAD_LINES = [
    pytest.param(json.dumps({**GOOD, "input_columns": 3}), "line 3: input_columns should be a list of column names, "
                 "not 3", id="columns-int"),
    pytest.param(json.dumps({**GOOD, "input_columns": {"0": 1}}), 'should be a list of column names, not {"0": 1}',
                 id="columns-dict"),
    pytest.param(json.dumps({**GOOD, "input_columns": [["0"], "1", "2"]}), 'input_columns holds ["0"], which is no',
                 id="columns-nested"),
    pytest.param(json.dumps({**GOOD, "input_columns": "012"}), 'should be a list of column names, not "012"',
                 id="columns-str"),
    pytest.param(json.dumps({**GOOD, "outputs": 7}), "line 3: the output rows do not match", id="outputs-int"),
    pytest.param(json.dumps({**GOOD, "inputs": [[1.0, 2.0]]}), "line 3: the input rows do not match", id="short-row"),
    pytest.param(deep(100_000), "line 3 is nested too deep to be a payload record", id="deep-line"),
    pytest.param(json.dumps(GOOD)[:-1] + f', "x": {deep(5_000)}}}', "line 3 is nested too deep", id="deep-value"),
    pytest.param("not json", "line 3 is not JSON", id="not-json"),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_a_record_the_runtime_never_writes_is_one_line(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str, message: str
) -> None:
    payloads = logs_with(tmp_path / "logs", bad)
    report = tmp_path / "report.html"
    code, err = monitor(root, "--payloads", str(payloads), "--html", str(report), capsys=capsys)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jupyter-deploy: error: zz-bad.jsonl "), err
    assert message in lines[0] and "Traceback" not in err, lines[0]
    assert not report.exists()


def test_a_report_path_that_cannot_be_a_file_is_refused_before_reading(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = logs_with(tmp_path / "logs", json.dumps(GOOD))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    monkeypatch.chdir(tmp_path)
    for html, message in (
        (".", "--html . is a directory: give a file name such as drift.html"),
        (str(tmp_path), "is a directory: give a file name"),
        (str(a_file / "report.html"), "notes.txt is a file, not a directory"),
        # tests run as root, whom file modes do not stop: in a directory of /proc nobody can create a file
        ("/proc/1/report.html", "--html /proc/1/report.html: cannot write in /proc/1"),
    ):
        code, err = monitor(root, "--payloads", str(payloads), "--html", html, capsys=capsys)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and message in lines[0] and "Traceback" not in err, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["logs", "notes.txt"]
    assert a_file.read_text() == "keep me\n"
    # and the same logs with a report that can be written: the run itself is fine
    code, err = monitor(root, "--payloads", str(payloads), "--html", "report.html", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
