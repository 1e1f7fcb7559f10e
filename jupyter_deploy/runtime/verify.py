"""Is a version directory still what export wrote? Each file's size and sha256, recorded in ``version.json`` at
export, checked before the version is served, batch-predicted or built into an image.

The version carries this module as ``_jd_runtime/verify.py`` (stdlib only): ``python predictor.py`` checks its
own directory, in a thread that starts when the predictor imports its runtime, so hashing the artifacts
overlaps importing torch and kserve, and ``serve_main`` waits for it before ``load()`` reads them. The image
build runs ``python -m _jd_runtime.verify .``. jupyter-deploy itself calls the same functions (``serve``,
``predict``, re-export, ``versions --verify``) and computes the content hash with them, so there is one
hashing implementation.

What this catches: an edited, added, removed or replaced file. It is no signature: whoever can rewrite the
files can rewrite ``version.json`` too (and ``_jd_runtime/verify.py`` itself, which is why jupyter-deploy
checks the files Python imports with its own copy before it starts a version's predictor).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .loaders.refusal import FAILURE_FILE

RECORDS = "checksums"
"""``version.json`` key: relative path -> {"size", "sha256"}, every file of the version but version.json"""
UNHASHED = frozenset({"version.json"})
CACHE_DIRECTORIES = frozenset({"__pycache__", ".ipynb_checkpoints"})
"""written beside a version's files by Python and JupyterLab, never read as part of it (and left out of the
image by its .dockerignore)"""
ARTIFACTS = "artifacts"
CHUNK_BYTES = 1 << 20
FAILED_EXIT = 65  # EX_DATAERR: the predictor's exit status when its version fails verification
"""when set (by ``jupyter-deploy serve``), the predictor writes its one-line refusal to the file this names, and
the tool shows it as its own error, instead of printing it"""


@dataclass(frozen=True)
class Problem:
    """Why a version fails verification: ``file`` (relative, None when no single file can be named) and what
    happened to it."""

    file: str | None
    reason: str
    kind: str = "changed"  # changed | added | missing | records

    def message(self, label: str, where: str) -> str:
        """One line: ``label`` names the version (``churn v1``), ``where`` its directory as the user sees it."""
        target = f"{where}/{self.file}" if self.file else where
        if self.kind == "added":
            fix = f"remove {target}"
        elif self.file:
            fix = f"restore it from Git (git checkout -- {target})"
        else:
            fix = f"restore {where} from Git"
        subject = f"{self.file} {self.reason}" if self.file else self.reason
        return f"{label} fails verification: {subject}; {fix}, or delete {where} and export again"


def file_sha256(path: Path) -> str:
    """sha256 of a file read in 1 MiB chunks (bounded memory, whatever the file's size)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def path_order(relative: str) -> list[str]:
    """Sort key: component by component, as ``pathlib`` sorts (``a/b`` before ``a-b``), the content hash's order."""
    return relative.split("/")


def list_files(directory: Path) -> dict[str, os.stat_result]:
    """Every entry of a version that is hashed (relative POSIX path -> ``lstat``): not ``version.json``, not the
    caches; links and other non-files are listed too (as themselves, never followed), so they can be refused."""
    found: dict[str, os.stat_result] = {}
    for current, directories, files in os.walk(directory, followlinks=False):
        base = Path(current)
        directories[:] = [name for name in directories if name not in CACHE_DIRECTORIES]
        for name in [*files, *(name for name in directories if (base / name).is_symlink())]:
            path = base / name
            relative = path.relative_to(directory).as_posix()
            if relative not in UNHASHED:
                found[relative] = path.lstat()
    return found


def record_files(directory: Path) -> dict[str, dict[str, Any]]:
    """What export writes under ``checksums``: each file's size and sha256, in path order."""
    records: dict[str, dict[str, Any]] = {}
    for relative, status in sorted(list_files(directory).items(), key=lambda item: path_order(item[0])):
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"{relative} is not a regular file: a version holds only files")
        records[relative] = {"size": status.st_size, "sha256": file_sha256(directory / relative)}
    return records


def content_hash(records: dict[str, dict[str, Any]]) -> str:
    """The version's content hash: sha256 over each file's relative path and sha256, in path order."""
    digest = hashlib.sha256()
    for relative in sorted(records, key=path_order):
        digest.update(relative.encode() + b"\0")
        digest.update(bytes.fromhex(records[relative]["sha256"]))
    return digest.hexdigest()


def read_record(directory: Path) -> dict[str, Any]:
    """``version.json`` as plain JSON; raises ``ValueError`` when it is missing or unreadable."""
    try:
        record = json.loads((directory / "version.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError("version.json is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"version.json cannot be read ({error})") from None
    if not isinstance(record, dict):
        raise ValueError("version.json is not a JSON object")
    return record


def refusal(directory: Path, problem: Problem) -> str:
    """The one line that refuses ``directory``: the version as ``churn v1``, its place in the project as
    ``deployments/churn/v1`` (where the user restores files, wherever this copy runs: an image, a pod)."""
    try:
        record = read_record(directory)
    except ValueError:
        record = {}
    name, version = record.get("name"), record.get("version")
    if isinstance(name, str) and isinstance(version, str):
        return problem.message(f"{name} {version}", f"deployments/{name}/{version}")
    return problem.message(str(directory), str(directory))


def verify(directory: str | Path, artifacts: bool = True) -> Problem | None:
    """The first way ``directory`` differs from its ``version.json``, or None when it is intact.

    Names and sizes are compared first (no reading), then files are hashed, those Python imports first.
    ``artifacts=False`` leaves the hashes of ``artifacts/`` to a later check (their sizes are still
    compared): the predictor's own, which runs before ``load()`` reads them. A version exported before
    per-file records is hashed whole against its content hash (see ``_verify_whole``), whatever is asked.
    """
    directory = Path(directory)
    try:
        record = read_record(directory)
    except ValueError as error:
        return Problem("version.json", str(error).removeprefix("version.json "), "records")
    try:
        present = list_files(directory)
        recorded = record.get(RECORDS)
        if recorded is None:
            return _verify_whole(directory, record, present)
        problem = _check_records(recorded, record.get("content_hash"))
        if problem is not None:
            return problem
        return _compare(directory, recorded, present, artifacts)
    except OSError as error:  # a file that cannot be read (permissions, a directory gone): named when it can be
        name = os.path.relpath(error.filename, directory) if isinstance(error.filename, str) else None
        where = Path(name).as_posix() if name and not name.startswith("..") else None
        return Problem(where, f"cannot be read ({error.strerror or error})")


def _check_records(recorded: Any, content: Any) -> Problem | None:
    """The records are well formed and add up to the content hash (else version.json itself was edited)."""
    try:
        well_formed = isinstance(recorded, dict) and all(
            isinstance(entry, dict)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("sha256"), str)
            and len(bytes.fromhex(entry["sha256"])) == 32
            for entry in recorded.values()
        )
    except ValueError:
        well_formed = False
    if not well_formed:
        return Problem("version.json", f"has malformed {RECORDS!r} records", "records")
    if content_hash(recorded) != content:
        return Problem("version.json", "records files that do not add up to its content hash", "records")
    return None


def _compare(
    directory: Path, recorded: dict[str, dict[str, Any]], present: dict[str, os.stat_result], artifacts: bool
) -> Problem | None:
    for relative in sorted(set(recorded) | set(present), key=path_order):
        if relative not in present:
            return Problem(relative, "is missing (it was exported with the version)", "missing")
        if relative not in recorded:
            return Problem(relative, "was added after export", "added")
        status = present[relative]
        if not stat.S_ISREG(status.st_mode):
            return Problem(relative, "was replaced by something that is not a file (a link?)")
        size = recorded[relative]["size"]
        if status.st_size != size:
            return Problem(relative, f"changed since export ({status.st_size} bytes, {size} recorded)")
    # code and small files first: they are what Python imports before anything reads an artifact
    order = sorted(recorded, key=lambda relative: (relative.split("/")[0] == ARTIFACTS, path_order(relative)))
    for relative in order:
        if not artifacts and relative.split("/")[0] == ARTIFACTS:
            continue
        if file_sha256(directory / relative) != recorded[relative]["sha256"]:
            return Problem(relative, "changed since export (its sha256 differs from version.json)")
    return None


def _verify_whole(directory: Path, record: dict[str, Any], present: dict[str, os.stat_result]) -> Problem | None:
    """A version exported before per-file records: verified against its content hash, which always covered
    every file. That needs every file read (no sizes to compare first, no file to name when it differs), but
    it keeps the versions that sit longest in Git checked rather than trusted with a warning; the cost is paid
    by these old versions only. The list of files, when version.json has one, still names an added or a
    removed file."""
    listed = record.get("files")
    if isinstance(listed, list) and listed and all(isinstance(entry, str) for entry in listed):
        expected = set(listed) - UNHASHED
        for relative in sorted(expected | set(present), key=path_order):
            if relative not in present:
                return Problem(relative, "is missing (it was exported with the version)", "missing")
            if relative not in expected:
                return Problem(relative, "was added after export", "added")
    for relative, status in present.items():
        if not stat.S_ISREG(status.st_mode):
            return Problem(relative, "was replaced by something that is not a file (a link?)")
    records = {relative: {"sha256": file_sha256(directory / relative)} for relative in present}
    if content_hash(records) != record.get("content_hash"):
        return Problem(
            None,
            "its files do not match its content hash (it was exported before per-file records, so the "
            "changed file cannot be named)",
        )
    return None


class BackgroundCheck:
    """``verify(directory)`` in a daemon thread (hashing releases the GIL: it overlaps the heavy imports)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._problem: Problem | None = None
        self._thread = threading.Thread(target=self._run, name="jd-verify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._problem = verify(self.directory)
        except Exception as error:  # reported before load(), never lost in the thread
            self._problem = Problem(None, f"could not be checked ({type(error).__name__}: {error})")

    def result(self) -> Problem | None:
        self._thread.join()
        return self._problem


_started: dict[Path, BackgroundCheck] = {}


def start_if_main(version_dir: Path) -> None:
    """When this process runs ``version_dir/predictor.py`` (called as the predictor imports ``_jd_runtime``,
    before torch or kserve): names, sizes and the files Python imports are checked now (a few milliseconds; an
    added ``numpy.py`` beside ``predictor.py`` would be imported in numpy's place), the artifacts' hashes in
    a background thread that ``check_before_load`` joins. A changed file ends the process with one line.

    Python has already run ``predictor.py``'s lines above its ``import _jd_runtime``, so an edit to those, or
    an added file named like a standard module it imports, is caught only where the directory is checked before
    Python starts: ``jupyter-deploy serve`` and the image build."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file or os.path.basename(main_file) != "predictor.py":
        return
    version_dir = version_dir.resolve()
    if Path(main_file).resolve() != version_dir / "predictor.py" or version_dir in _started:
        return
    problem = verify(version_dir, artifacts=False)
    if problem is not None:
        _refuse(version_dir, problem)
    _started[version_dir] = BackgroundCheck(version_dir)


def check_before_load(version_dir: Path) -> None:
    """Wait for the check ``start_if_main`` started (or run it now); exit with one line if the version fails."""
    version_dir = version_dir.resolve()
    check = _started.pop(version_dir, None)
    problem = check.result() if check is not None else verify(version_dir)
    if problem is not None:
        _refuse(version_dir, problem)


def _refuse(version_dir: Path, problem: Problem) -> NoReturn:
    """Exit with the one line: to the file ``$JD_FAILURE_FILE`` names (the tool that started us shows it as
    its own error), else to stderr."""
    message = refusal(version_dir, problem)
    try:
        with open(os.environ[FAILURE_FILE], "w", encoding="utf-8") as stream:
            stream.write(message)
    except (KeyError, OSError):
        print(f"jupyter-deploy: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(FAILED_EXIT)


def main(argv: list[str] | None = None) -> int:
    """``python -m _jd_runtime.verify [DIR]`` (the image build's check): one line, exit 1 when DIR fails."""
    arguments = sys.argv[1:] if argv is None else argv
    directory = Path(arguments[0] if arguments else ".")
    problem = verify(directory)
    if problem is not None:
        print(f"verify: {refusal(directory, problem)}", file=sys.stderr)
        return 1
    print(f"verify: {directory}: {len(list_files(directory))} files match version.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
