"""Version names and deployment names from users: a name is never a path, and a version is ``vN`` with a
sane number. Bad ones get one line (CLI) or a 4xx with JSON (REST), never a traceback or a 500, and no
command reads a ``version.json`` outside ``deployments/``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rest_client import fetch_error, server_config

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]
HUGE = "v" + "9" * 300  # longer than a file name may be: the operating system refuses to even look it up


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jupyter-deploy: error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("diff", "churn", "v1", HUGE),
        ("diff", "churn", HUGE, "v1"),
        ("predict", f"churn@{HUGE}", "in.csv", "--output", "out.csv"),
        ("serve", f"churn@{HUGE}", "--port", "0"),
        ("manifests", f"churn@{HUGE}"),
    ],
)
def test_a_300_digit_version_is_one_line_not_a_traceback(args: tuple[str, ...], make_version, tmp_path: Path) -> None:
    root = make_version(root=tmp_path / "project")
    (root / "in.csv").write_text("a\n1\n", encoding="utf-8")
    line = one_error_line(run(*args, cwd=root))
    assert "is not a version" in line and "v1, v2" in line
    assert not (root / "out.csv").exists()


@pytest.mark.parametrize("version", ["v01x", "v-1", "v1/../v1", "v\u0661", "v1\n"])
def test_other_non_versions_are_refused_by_name(version: str, make_version, tmp_path: Path) -> None:
    root = make_version(root=tmp_path / "project")
    line = one_error_line(run("diff", "churn", "v1", version, cwd=root))
    assert "is not a version" in line


def test_versions_does_not_list_a_version_json_outside_the_project(make_version, tmp_path: Path) -> None:
    """``versions ../../x`` once read ``x/v1/version.json`` two levels above ``deployments/``."""
    project = tmp_path / "project"
    make_version(root=project)
    make_version(name="x", root=tmp_path / "elsewhere")  # tmp_path/elsewhere/deployments/x/v1/version.json
    outside = Path("..", "..", "elsewhere", "deployments", "x").as_posix()
    assert (project / "deployments" / outside / "v1" / "version.json").is_file()  # the path really leads there
    for args in (("versions", outside), ("versions", outside, "--json")):
        done = run(*args, cwd=project)
        line = one_error_line(done)
        assert done.stdout == ""
        assert "deployment name" in line or "name" in line
        assert "--name ../" not in line  # the 'no versions' hint never suggests a path


def test_the_no_versions_hint_names_only_a_valid_name(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    line = one_error_line(run("versions", "churn", cwd=project))
    assert "has no versions" in line and "--name churn" in line
    line = one_error_line(run("versions", "../../x", cwd=project))
    assert "has no versions" not in line and "--name ../../x" not in line


@pytest.fixture
def jp_server_config():
    return server_config()


async def test_rest_diff_of_a_300_digit_version_is_a_4xx(jp_fetch, jp_root_dir: Path, make_version) -> None:
    make_version(root=jp_root_dir)
    for a, b in (("v1", HUGE), (HUGE, "v1"), ("v1", "v1x")):
        status, body = await fetch_error(jp_fetch, "jupyter-deploy", "diff", "churn", params={"a": a, "b": b})
        assert 400 <= status < 500, (status, body)
        assert "is not a version" in body["message"]
    response = await jp_fetch("jupyter-deploy", "diff", "churn", params={"a": "v1", "b": "v1"})
    assert json.loads(response.body)["diff"] == ""
