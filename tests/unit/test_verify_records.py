"""The records a version's verification rests on: the content hash keeps its definition (versions exported
before per-file records are checked against it), files are hashed in bounded memory, and ``verify`` names the
first difference. Plain files in a temporary directory; the oracle for the hash is the definition written out
here, as the store computed it before per-file records."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from jupyter_deploy.runtime import verify
from jupyter_deploy.versions import store


def hash_as_defined(directory: Path) -> str:
    """sha256 over (relative path, NUL, sha256 of the bytes) of every file but version.json, in pathlib's order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative == "version.json":
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def make_tree(root: Path) -> Path:
    # names whose string order and path order differ ('-' and '.' sort before '/'), a nested version.json
    # (hashed: only the top one is the record), an empty file, a non-ASCII name
    for relative, data in {
        "a/b": b"one",
        "a-b/x": b"two",
        "a.b": b"three",
        "artifacts/files/version.json": b"{}",
        "artifacts/empty.bin": b"",
        "artifacts/caf\u00e9.txt": b"\xff\x00" * 3,
        "predictor.py": b"print('hi')\n",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def seal(root: Path, **extra: object) -> dict:
    records = verify.record_files(root)
    info = {"name": "churn", "version": "v3", "content_hash": verify.content_hash(records), "checksums": records}
    info.update(extra)
    (root / "version.json").write_text(json.dumps(info), encoding="utf-8")
    return info


def test_the_content_hash_keeps_its_definition(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "v")
    (root / "version.json").write_text("{}")
    assert store.content_hash(root) == hash_as_defined(root)
    records = verify.record_files(root)
    assert list(records) == [
        "a/b",
        "a-b/x",
        "a.b",
        *sorted(k for k in records if k.startswith("artifacts/")),
        "predictor.py",
    ]
    assert records["a-b/x"] == {"size": 3, "sha256": hashlib.sha256(b"two").hexdigest()}
    assert "version.json" not in records and "artifacts/files/version.json" in records


def test_hashing_a_large_file_holds_a_chunk_not_the_file(tmp_path: Path) -> None:
    """Item 10: export peaked at the artifact's size because each file was read whole."""
    root = tmp_path / "v"
    root.mkdir()
    size = 48 * 2**20
    with open(root / "weights.bin", "wb") as stream:
        stream.truncate(size)  # sparse: the test does not write 48 MB
    tracemalloc.start()
    try:
        digest = store.content_hash(root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"hashing allocated {peak / 2**20:.1f} MB for a {size / 2**20:.0f} MB file"
    zeros = hashlib.sha256(b"\0" * size).digest()
    assert digest == hashlib.sha256(b"weights.bin\0" + zeros).hexdigest()


def test_an_intact_version_passes_and_caches_do_not_count(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "v")
    seal(root)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "predictor.cpython-311.pyc").write_bytes(b"x")
    (root / "artifacts" / ".ipynb_checkpoints").mkdir()
    (root / "artifacts" / ".ipynb_checkpoints" / "a-checkpoint.txt").write_text("x")
    assert verify.verify(root) is None


@pytest.mark.parametrize(
    ("edit", "file", "kind"),
    [
        (lambda r: (r / "a-b/x").write_bytes(b"TWO"), "a-b/x", "changed"),  # same size
        (lambda r: (r / "predictor.py").write_text("print('bye')\n"), "predictor.py", "changed"),
        (lambda r: (r / "artifacts/empty.bin").unlink(), "artifacts/empty.bin", "missing"),
        (lambda r: (r / "torch.py").write_text("x = 1\n"), "torch.py", "added"),
        (
            lambda r: (r / "artifacts/new").mkdir() or (r / "artifacts/new/w.npy").write_bytes(b"1"),
            "artifacts/new/w.npy",
            "added",
        ),
        (lambda r: (r / "a.b").unlink() or os.symlink(r / "a/b", r / "a.b"), "a.b", "changed"),
    ],
    ids=["same size", "code", "removed", "added", "added in a new directory", "replaced by a link"],
)
def test_verify_names_the_first_difference(tmp_path: Path, edit, file: str, kind: str) -> None:
    root = make_tree(tmp_path / "v")
    seal(root)
    edit(root)
    problem = verify.verify(root)
    assert problem is not None and (problem.file, problem.kind) == (file, kind), problem
    message = verify.refusal(root, problem)
    assert message.startswith(f"churn v3 fails verification: {file} ")
    assert f"deployments/churn/v3/{file}" in message and "\n" not in message


def test_artifacts_false_compares_their_sizes_but_leaves_their_hashes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "v")
    seal(root)
    (root / "artifacts/café.txt").write_bytes(b"\x00\xff" * 3)  # same size
    assert verify.verify(root, artifacts=False) is None
    assert verify.verify(root).file == "artifacts/café.txt"
    (root / "artifacts/café.txt").write_bytes(b"\x00")
    assert verify.verify(root, artifacts=False).file == "artifacts/café.txt"


def test_an_edited_record_is_refused_as_version_json(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "v")
    info = seal(root)
    (root / "predictor.py").write_text("import os\n")
    info["checksums"]["predictor.py"] = {"size": 10, "sha256": hashlib.sha256(b"import os\n").hexdigest()}
    (root / "version.json").write_text(json.dumps(info))
    problem = verify.verify(root)
    assert problem is not None and problem.file == "version.json" and "content hash" in problem.reason
    (root / "version.json").write_text("{not json")
    assert verify.verify(root).file == "version.json"
    (root / "version.json").unlink()
    assert verify.verify(root).reason == "is missing"


def test_a_version_without_records_is_checked_against_its_content_hash(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "v")
    (root / "version.json").write_text(
        json.dumps({"name": "churn", "version": "v3", "content_hash": hash_as_defined(root)})
    )
    assert verify.verify(root) is None
    assert verify.verify(root, artifacts=False) is None
    (root / "a-b/x").write_bytes(b"TWO")
    problem = verify.verify(root, artifacts=False)  # no per-file records: hashed whole whatever is asked
    assert problem is not None and problem.file is None and "content hash" in problem.reason
    message = verify.refusal(root, problem)
    assert message.startswith("churn v3 fails verification: its files do not match its content hash")
