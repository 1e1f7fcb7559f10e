"""``--artifact`` ships only what lies inside the notebook's directory, through ``jupyter-deploy export``.

A link to a file or a directory outside it, a link inside a shipped directory, link loops, a FIFO and the
project's own ``deployments/`` are refused with one ``error:`` line naming the path, and the project's
versions are left exactly as they were (the oracle: a snapshot of every file under ``deployments/`` taken
before the export). A link that stays inside the directory ships the file it points to.
"""

from __future__ import annotations

import hashlib
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
pytestmark = pytest.mark.slow
SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for shipping"


def cells(*artifacts: str, reads: str = "weights/w.npy") -> tuple[str, ...]:
    options = "".join(f" --artifact {path}" for path in artifacts)
    return (
        "import numpy as np",
        f"%%deploy load{options}\nweights = np.load({reads!r})",
        "%%deploy example\nexample_input = np.array([[1.0, 2.0]])",
        "%%deploy predict\ndef predict(x):\n    return np.asarray(x) @ weights",
    )


def export(root: Path, *artifacts: str, reads: str = "weights/w.npy") -> subprocess.CompletedProcess[str]:
    make_notebook(root / "lin.ipynb", *cells(*artifacts, reads=reads))
    return subprocess.run(
        [*CLI, "export", "lin.ipynb"], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )


def snapshot(directory: Path) -> dict[str, str]:
    """Every entry under ``directory``: a file's sha256, or what a link or directory is."""
    found = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            found[relative] = "link:" + os.readlink(path)
        elif path.is_file():
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[relative] = "dir"
    return found


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with lin v1 (its load cell ships weights/), and a secret outside it, as a user's home has."""
    base = tmp_path_factory.mktemp("artifact-safety")
    root, outside = base / "project", base / "outside"
    (root / "weights").mkdir(parents=True)
    np.save(root / "weights" / "w.npy", np.eye(2))
    (outside / "keys").mkdir(parents=True)
    (outside / "keys" / "id_rsa").write_bytes(SECRET)
    np.save(outside / "w.npy", np.eye(2) * 3)  # an outside file the load cell can read: the link is the problem
    done = export(root, "weights")
    assert done.returncode == 0, done.stderr
    return base


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "copy", symlinks=True)
    return tmp_path / "copy" / "project"


def outside(root: Path) -> Path:
    return root.parent / "outside"


def file_link(root: Path) -> tuple[str, ...]:
    (root / "w.npy").symlink_to(outside(root) / "w.npy")
    return ("weights", "w.npy")


def directory_link(root: Path) -> tuple[str, ...]:
    (root / "keys").symlink_to(outside(root) / "keys")
    return ("weights", "keys")


def link_inside_a_shipped_directory(root: Path) -> tuple[str, ...]:
    (root / "weights" / "id_rsa").symlink_to(outside(root) / "keys" / "id_rsa")
    return ("weights",)


def link_inside_a_linked_directory(root: Path) -> tuple[str, ...]:
    """The directory link stays inside; the link in what it points to leaves."""
    (root / "data").mkdir()
    (root / "data" / "key").symlink_to(outside(root) / "keys" / "id_rsa")
    (root / "weights" / "data").symlink_to(root / "data")
    return ("weights",)


def link_loop(root: Path) -> tuple[str, ...]:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    return ("weights", "a")


def directory_linking_to_itself(root: Path) -> tuple[str, ...]:
    (root / "weights" / "again").symlink_to(".")
    return ("weights",)


def fifo(root: Path) -> tuple[str, ...]:
    os.mkfifo(root / "weights" / "pipe")
    return ("weights",)


def deployments(root: Path) -> tuple[str, ...]:
    return ("weights", "deployments")


def inside_deployments(root: Path) -> tuple[str, ...]:
    return ("weights", "deployments/lin/v1/artifacts/files/weights/w.npy")


REFUSED: dict[str, tuple[Callable[[Path], tuple[str, ...]], str, str]] = {
    "file link": (file_link, "w.npy", "outside the notebook's directory"),
    "directory link": (directory_link, "keys", "outside the notebook's directory"),
    "link inside a shipped directory": (link_inside_a_shipped_directory, "weights/id_rsa", "outside"),
    "link inside a linked directory": (link_inside_a_linked_directory, "weights/data/key", "outside"),
    "link loop": (link_loop, "'a'", "symbolic link loop"),
    "directory linking to itself": (directory_linking_to_itself, "weights/again", "loop"),
    "FIFO": (fifo, "weights/pipe", "is a FIFO"),
    "deployments/": (deployments, "'deployments'", "deployments/"),
    "a file inside deployments/": (inside_deployments, "deployments/lin/v1", "deployments/"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_leaves_the_notebooks_directory_is_refused_in_one_line_and_nothing_is_written(
    case: str, project: Path
) -> None:
    make, named, words = REFUSED[case]
    artifacts = make(project)
    before = snapshot(project / "deployments")
    result = export(project, *artifacts)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("jupyter-deploy: error: --artifact "), lines[0]
    assert named in lines[0] and words in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert snapshot(project / "deployments") == before
    for path in (project / "deployments").rglob("*"):
        assert not (path.is_file() and not path.is_symlink() and SECRET in path.read_bytes()), path


def test_links_that_stay_inside_ship_what_they_point_to(project: Path) -> None:
    """``latest.npy -> weights/w.npy`` and ``current -> weights``: the version holds files, not links."""
    (project / "latest.npy").symlink_to("weights/w.npy")
    (project / "current").symlink_to("weights")
    result = export(project, "latest.npy", "current", reads="latest.npy")
    assert result.returncode == 0, result.stderr
    files = project / "deployments" / "lin" / "v2" / "artifacts" / "files"
    for shipped in (files / "latest.npy", files / "current" / "w.npy"):
        assert shipped.is_file() and not shipped.is_symlink()
        assert shipped.read_bytes() == (project / "weights" / "w.npy").read_bytes()
    assert not any(path.is_symlink() for path in files.rglob("*"))
    info = json.loads((project / "deployments" / "lin" / "v2" / "version.json").read_text(encoding="utf-8"))
    assert info["version"] == "v2"
