"""A loader's refusal is one line: a ``.skops`` that is not a skops file, a pickle the version was not exported
to load, and the older runtimes' plain ``SystemExit`` lines, as ``serve`` and ``predict`` print them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from jupyter_deploy.runtime.artifacts import load_artifact
from jupyter_deploy.runtime.loaders.refusal import ArtifactRefused, refusal_reason


@pytest.mark.parametrize("content", [b"a truncated download", b""], ids=["not a zip", "empty"])
def test_a_skops_file_that_is_not_a_zip_is_one_line(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(content)
    with pytest.raises(ArtifactRefused) as refused:
        load_artifact(path, trusted=["sklearn.linear_model._logistic.LogisticRegression"])
    assert refused.value.reason == (
        "model.skops is not a skops file (a zip archive holding schema.json); re-export the notebook"
    )
    assert refused.value.code == "jupyter-deploy: error: " + refused.value.reason


def test_a_zip_without_a_skops_schema_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("something.json", "{}")
    with pytest.raises(ArtifactRefused, match="is not a skops file"):
        load_artifact(path, trusted=[])


def test_a_pickle_without_allow_pickle_is_a_refusal(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04K\x01.")  # pickle of the int 1: never read
    with pytest.raises(ArtifactRefused, match="not exported with --allow-pickle"):
        load_artifact(path)


@pytest.mark.parametrize(
    ("stop", "line"),
    [
        (
            SystemExit("jupyter-deploy: model.skops holds types that predictor.py does not trust: os.system"),
            "model.skops holds types that predictor.py does not trust: os.system",
        ),
        (
            SystemExit("jupyter-deploy: error: model.pt2 is not a torch.export archive"),
            "model.pt2 is not a torch.export archive",
        ),
        (SystemExit(3), "loading stopped with exit code 3 (sys.exit in the load cell?)"),
    ],
    ids=["older runtime's refusal", "a refusal's code", "an exit code"],
)
def test_refusals_of_any_runtime_read_as_one_line(stop: SystemExit, line: str) -> None:
    assert refusal_reason(stop) == line


def test_a_refusal_in_a_served_predictor_goes_to_the_file_the_tool_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` sets $JD_FAILURE_FILE: the predictor writes its refusal there and exits 1 without printing."""
    target = tmp_path / "refused.txt"
    monkeypatch.setenv("JD_FAILURE_FILE", str(target))
    with pytest.raises(ArtifactRefused) as refused:
        load_artifact(tmp_path / "model.pkl")
    assert refused.value.code == 1
    assert target.read_text(encoding="utf-8") == refused.value.reason
