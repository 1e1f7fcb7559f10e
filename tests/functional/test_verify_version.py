"""A version is checked against what export recorded before it is used: an edited ``predictor.py``, runtime
file or artifact, an added or a removed file makes ``serve`` (the CLI and ``python predictor.py`` alone),
``predict``, re-``export`` and ``versions --verify`` refuse with one line naming the file; an untouched
version passes. Real exports, real processes (the CLI and the predictor as a user runs them).

The oracle for "what changed" is the edit each test makes itself, not the recorded digests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from notebooks import make_notebook

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]
CELLS = (
    "import numpy as np",
    "%%deploy load --name lin --artifact weights.npy\nW = np.load('weights.npy')",
    "%%deploy example --name lin\nexample_input = np.array([[1.0, 2.0]])",
    "%%deploy predict --name lin\ndef predict(x):\n    return np.asarray(x) @ W",
)


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def exported(root: Path) -> Path:
    """``root`` with ``lin`` v1 exported statically; its load cell ships ``weights.npy``."""
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "weights.npy", np.arange(6, dtype=np.float64).reshape(2, 3))
    make_notebook(root / "lin.ipynb", *CELLS)
    done = run("export", "lin.ipynb", cwd=root)
    assert done.returncode == 0, done.stderr
    (root / "in.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return exported(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(pristine, root)
    return root


def version(root: Path) -> Path:
    return root / "deployments" / "lin" / "v1"


def append(relative: str) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        with (directory / relative).open("a", encoding="utf-8") as stream:
            stream.write("\nprint('edited')\n")

    return edit


def flip_last_byte(relative: str) -> Callable[[Path], None]:
    """Same size, other content: only a hash tells."""

    def edit(directory: Path) -> None:
        data = bytearray((directory / relative).read_bytes())
        data[-1] ^= 0x01
        (directory / relative).write_bytes(bytes(data))

    return edit


def add(relative: str) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text("raise SystemExit('imported')\n", encoding="utf-8")

    return edit


def remove(relative: str) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        (directory / relative).unlink()

    return edit


# (what is edited, the file the refusal must name)
EDITS = {
    "predictor.py edited": (append("predictor.py"), "predictor.py"),
    "runtime file edited": (append("_jd_runtime/model.py"), "_jd_runtime/model.py"),
    "artifact edited, same size": (flip_last_byte("artifacts/files/weights.npy"), "artifacts/files/weights.npy"),
    "file added": (add("numpy.py"), "numpy.py"),
    "file removed": (remove("artifacts/example_output.npy"), "artifacts/example_output.npy"),
}


def refusal(done: subprocess.CompletedProcess[str], file: str) -> str:
    """The one error line of a refused command, which names ``file``."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("jupyter-deploy: error: ") and "lin v1 fails verification" in line, line
    assert f" {file} " in line, line
    return line


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_versions_verify_names_the_file(project: Path, edit: tuple[Callable[[Path], None], str]) -> None:
    change, file = edit
    assert run("versions", "lin", "--verify", cwd=project).returncode == 0
    change(version(project))
    line = refusal(run("versions", "lin", "--verify", cwd=project), file)
    assert f"deployments/lin/v1/{file}" in line  # where to restore (or remove) it, and the way out:
    assert line.endswith("or delete deployments/lin/v1 and export again")
    report = run("versions", "lin", "--verify", "--json", cwd=project)
    assert report.returncode == 1
    [checked] = json.loads(report.stdout)["verified"]
    assert checked["version"] == "v1" and checked["ok"] is False and checked["file"] == file


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_serve_refuses_an_edited_version(project: Path, edit: tuple[Callable[[Path], None], str]) -> None:
    change, file = edit
    change(version(project))
    refusal(run("serve", "lin", "--port", "0", "--timeout", "120", cwd=project, timeout=180), file)


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_predict_refuses_an_edited_version(project: Path, edit: tuple[Callable[[Path], None], str]) -> None:
    change, file = edit
    change(version(project))
    refusal(run("predict", "lin", "in.csv", "--output", "out.csv", cwd=project), file)
    assert not (project / "out.csv").exists() and not (project / ".out.csv.partial").exists()


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_reexport_refuses_instead_of_calling_an_edited_version_unchanged(
    tmp_path: Path, edit: tuple[Callable[[Path], None], str]
) -> None:
    project = exported(tmp_path / "fresh")  # the same runtime as the re-export's (a copy could predate an edit)
    change, file = edit
    change(version(project))
    before = sorted(p.name for p in (project / "deployments" / "lin").iterdir())
    done = run("export", "lin.ipynb", cwd=project)
    assert "unchanged" not in done.stdout
    refusal(done, file)
    assert sorted(p.name for p in (project / "deployments" / "lin").iterdir()) == before


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_the_predictor_alone_refuses_an_edited_version(
    project: Path, tmp_path: Path, edit: tuple[Callable[[Path], None], str]
) -> None:
    """``python predictor.py`` from a copy of the directory (as an image runs it): its own ``_jd_runtime``
    checks the files before loading and exits non-zero with one line."""
    change, file = edit
    copy = shutil.copytree(version(project), tmp_path / "copy")
    change(copy)
    env = {key: value for key, value in os.environ.items() if not key.startswith("JD_")}
    done = subprocess.run(
        [sys.executable, "predictor.py", "--http_port", "0"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode not in (0, None), done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if "fails verification" in line]
    assert len(lines) == 1 and f" {file} " in lines[0], done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_an_untouched_version_passes_every_door(tmp_path: Path) -> None:
    project = exported(tmp_path / "fresh")  # the same runtime as the re-export's (a copy could predate an edit)
    checked = run("versions", "lin", "--verify", "--json", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["verified"] == [
        {"version": "v1", "ok": True, "file": None, "message": None},
    ]
    predicted = run("predict", "lin", "in.csv", "--output", "out.csv", "--json", cwd=project)
    assert predicted.returncode == 0, predicted.stderr
    again = run("export", "lin.ipynb", cwd=project)
    assert again.returncode == 0 and "unchanged, same as v1" in again.stdout, again.stderr
    # caches that Python and JupyterLab write beside the files are not part of the version
    (version(project) / "_jd_runtime" / "__pycache__").mkdir(exist_ok=True)
    (version(project) / "_jd_runtime" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"cache")
    (version(project) / ".ipynb_checkpoints").mkdir()
    (version(project) / ".ipynb_checkpoints" / "predictor-checkpoint.py").write_text("# a checkpoint\n")
    assert run("versions", "lin", "--verify", cwd=project).returncode == 0


def test_an_untouched_copy_serves_alone(project: Path, tmp_path: Path) -> None:
    from standalone import standalone_server

    with standalone_server(Path(sys.executable), version(project), tmp_path, "lin") as url:
        assert url.startswith("http://127.0.0.1:")


def test_a_version_exported_before_file_records_is_checked_against_its_content_hash(project: Path) -> None:
    """Such a version has no sizes or per-file digests, only the content hash over every file: it is hashed
    whole, and a change is refused without naming the file (the list of files, when recorded, still names an
    added or a removed one)."""
    record = version(project) / "version.json"
    info = json.loads(record.read_text())
    assert info.pop("checksums")
    record.write_text(json.dumps(info, indent=2))
    assert run("versions", "lin", "--verify", cwd=project).returncode == 0
    flip_last_byte("artifacts/files/weights.npy")(version(project))
    for args in (("versions", "lin", "--verify"), ("serve", "lin", "--port", "0")):
        done = run(*args, cwd=project)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert "lin v1 fails verification" in line and "content hash" in line, line
