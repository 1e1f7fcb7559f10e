"""A ``.pt2`` artifact never runs code when it is loaded: ``serve``, ``predict``, the image and the batch Job
refuse, with one line, an archive whose entries would be unpickled or evaluated, and load a real export.

The archives are real ``torch.export.save`` output, rewritten the way an attacker would (an entry marked
``use_pickle`` holding a pickle that writes a marker file, a symbolic size or a guard that is Python code).
Each crafted archive is first shown to write its marker through ``torch.export.load`` itself: the oracle
that the attack is real, independent of the check under test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from notebooks import reseal

from jupyter_deploy.runtime.artifacts import load_artifact
from jupyter_deploy.runtime.loaders.refusal import ArtifactRefused

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]


class Scaled(torch.nn.Module):
    """Weights, a buffer, a lifted tensor constant; its reshape makes torch.export write guards."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)
        self.register_buffer("scale", torch.tensor([2.0, 3.0]))
        self.offset = torch.tensor([0.5, -0.5])  # a plain tensor attribute: a constant in the archive

    def forward(self, x: Any) -> Any:
        return self.linear(x.reshape(x.shape[0], -1)) * self.scale + self.offset


class WritesMarker:
    """Unpickling this creates ``path``: what a crafted archive does to whoever loads it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def marker_payload(marker: Path, torch_save: bool = True) -> bytes:
    buffer = io.BytesIO()
    if torch_save:
        torch.save(WritesMarker(marker), buffer)
    else:
        pickle.dump(WritesMarker(marker), buffer)
    return buffer.getvalue()


def code_writing(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A real exported program (batch and feature dimensions dynamic: guards and symbolic sizes) and the
    answer of the module it came from, on an input of another batch size."""
    torch.manual_seed(0)
    module = Scaled().eval()
    example = torch.randn(4, 2, 3)
    auto = torch.export.Dim.AUTO
    exported = torch.export.export(module, (example,), dynamic_shapes=({0: auto, 1: auto, 2: auto},))
    assert exported._guards_code, "the program must carry guards for the guard check to be exercised"
    path = tmp_path_factory.mktemp("pt2") / "model.pt2"
    torch.export.save(exported, str(path))
    probe = torch.randn(3, 2, 3)
    with torch.no_grad():
        return path, (probe, module(probe))


def rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes | None], add: dict | None = None) -> Path:
    """A copy of the archive with each entry passed through ``change`` (None drops it), plus ``add``."""
    with zipfile.ZipFile(source) as archive:
        entries = [(info, archive.read(info.filename)) for info in archive.infolist()]
    root = entries[0][0].filename.split("/", 1)[0]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for info, data in entries:
            changed = change(info.filename.split("/", 1)[1], data)
            if changed is not None:
                archive.writestr(info, changed)
        for name, data in (add or {}).items():
            archive.writestr(f"{root}/{name}", data)
    return target


def config_entry(data: bytes, pick: Callable[[dict], tuple[str, dict]]) -> tuple[dict, str, dict]:
    config = json.loads(data)
    fqn, meta = pick(config["config"])
    return config, fqn, meta


def weight_marked_use_pickle(source: Path, target: Path, marker: Path) -> Path:
    """The issue's archive: the first weight's config entry says use_pickle, its payload is a pickle."""
    with zipfile.ZipFile(source) as archive:
        name = next(n for n in archive.namelist() if n.endswith("_weights_config.json"))
        config = json.loads(archive.read(name))
    fqn = next(iter(config["config"]))
    config["config"][fqn]["use_pickle"] = True
    payload = "data/weights/" + config["config"][fqn]["path_name"]

    def change(entry: str, data: bytes) -> bytes:
        if entry == name.split("/", 1)[1]:
            return json.dumps(config).encode()
        return marker_payload(marker) if entry == payload else data

    return rewrite(source, target, change)


def constant_marked_use_pickle(source: Path, target: Path, marker: Path) -> Path:
    with zipfile.ZipFile(source) as archive:
        name = next(n for n in archive.namelist() if n.endswith("_constants_config.json"))
        config = json.loads(archive.read(name))
    assert config["config"], "the module's tensor attribute must be a constant in the archive"
    fqn = next(iter(config["config"]))
    config["config"][fqn]["use_pickle"] = True
    payload = "data/constants/" + config["config"][fqn]["path_name"]

    def change(entry: str, data: bytes) -> bytes:
        if entry == name.split("/", 1)[1]:
            return json.dumps(config).encode()
        return marker_payload(marker) if entry == payload else data

    return rewrite(source, target, change)


def opaque_constant(source: Path, target: Path, marker: Path) -> Path:
    """A constant written as torch writes an opaque object: torch pickle.loads it."""
    with zipfile.ZipFile(source) as archive:
        name = next(n for n in archive.namelist() if n.endswith("_constants_config.json"))
        config = json.loads(archive.read(name))
    fqn = next(iter(config["config"]))
    config["config"][fqn].update(path_name="opaque_obj_0", use_pickle=True, tensor_meta=None)

    def change(entry: str, data: bytes) -> bytes:
        return json.dumps(config).encode() if entry == name.split("/", 1)[1] else data

    return rewrite(source, target, change, add={"data/constants/opaque_obj_0": marker_payload(marker, False)})


def sample_inputs_pickle(source: Path, target: Path, marker: Path) -> Path:
    """No entry marked at all: the sample inputs fail the safe loader and torch retries with the unsafe one."""
    return rewrite(source, target, lambda entry, data: marker_payload(marker) if "sample_inputs/" in entry else data)


def symbolic_size_code(source: Path, target: Path, marker: Path) -> Path:
    """A symbolic size is handed to sympy.sympify, which evaluates Python."""

    def change(entry: str, data: bytes) -> bytes:
        if not entry.startswith("models/"):
            return data
        text = data.decode()
        start = text.index("Symbol(")
        end = text.index(")", start) + 1
        return (text[:start] + code_writing(marker) + text[end:]).encode()

    return rewrite(source, target, change)


def guard_code(source: Path, target: Path, marker: Path) -> Path:
    """A guard is compiled into the module's Python and runs on every call."""

    def change(entry: str, data: bytes) -> bytes:
        if not entry.startswith("models/"):
            return data
        program = json.loads(data)
        program["guards_code"] = [*program["guards_code"], f"{code_writing(marker)} == 0"]
        return json.dumps(program).encode()

    return rewrite(source, target, change)


ATTACKS = {
    "weight marked use_pickle": (weight_marked_use_pickle, "stored as a pickle"),
    "constant marked use_pickle": (constant_marked_use_pickle, "stored as a pickle"),
    "opaque-object constant": (opaque_constant, "stored as a pickle"),
    "sample inputs only the unsafe loader reads": (sample_inputs_pickle, "sample inputs"),
    "symbolic size that is Python": (symbolic_size_code, "symbolic size"),
    "guard that is Python": (guard_code, "guard"),
}


def load_with_torch_alone(path: Path, probe: Any) -> None:
    """What loading did before the check: torch.export.load, .module(), one call."""
    with contextlib.suppress(Exception):  # a crafted archive may fail after its payload ran: that is the point
        torch.export.load(str(path)).module()(probe)


def test_a_real_export_loads_and_answers_as_the_module(program: tuple[Path, Any]) -> None:
    path, (probe, expected) = program
    module = load_artifact(path)
    with torch.no_grad():
        assert torch.allclose(module(probe), expected)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_archive_that_would_run_code_is_refused_in_one_line(
    attack: str, program: tuple[Path, Any], tmp_path: Path
) -> None:
    craft, reason = ATTACKS[attack]
    path, (probe, _) = program
    oracle_marker = tmp_path / "ran-under-torch-alone"
    load_with_torch_alone(craft(path, tmp_path / "oracle.pt2", oracle_marker), probe)
    assert oracle_marker.exists(), f"the crafted archive ({attack}) must run code under torch.export.load"

    marker = tmp_path / "ran"
    crafted = craft(path, tmp_path / "model.pt2", marker)
    with pytest.raises(ArtifactRefused) as refused:
        load_artifact(crafted)(probe)
    assert not marker.exists()
    assert reason in refused.value.reason and "\n" not in refused.value.reason
    assert refused.value.reason.startswith("model.pt2")
    assert str(refused.value.code).startswith("jupyter-deploy: error: ")


@pytest.mark.parametrize(
    "extra",
    [
        {"data/aotinductor/model/model.so": b"\x7fELF"},  # compiled code torch would load
        {"data/weights/model.pt": b"legacy"},  # the legacy state file torch would unpickle
    ],
    ids=["aotinductor library", "legacy pickled weights"],
)
def test_entries_outside_what_torch_export_save_writes_are_refused(
    extra: dict[str, bytes], program: tuple[Path, Any], tmp_path: Path
) -> None:
    path, _ = program
    crafted = rewrite(path, tmp_path / "model.pt2", lambda entry, data: data, add=extra)
    with pytest.raises(ArtifactRefused) as refused:
        load_artifact(crafted)
    assert next(iter(extra)) in refused.value.reason


def test_a_file_that_is_no_archive_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "model.pt2"
    bogus.write_bytes(b"not a zip at all")
    with pytest.raises(ArtifactRefused, match="not a torch.export archive"):
        load_artifact(bogus)


# -- the front doors: serve and predict (CLI), the image's predictor and the batch Job's entry point ------

NOTEBOOK = (
    "import torch\nfrom torch import nn\ntorch.manual_seed(0)\n"
    "model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval()",
    "%%deploy example\nexample_input = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])",
    "%%deploy predict\ndef predict(x):\n    return model(x)",
)


@pytest.fixture(scope="module")
def exported_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose ``m`` v1 holds the live module as ``artifacts/model.pt2`` (a real kernel)."""
    from notebooks import make_notebook

    root = tmp_path_factory.mktemp("pt2-project")
    make_notebook(root / "m.ipynb", *NOTEBOOK)
    done = subprocess.run(
        [*CLI, "export", "m.ipynb", "--execute"], cwd=root, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (root / "deployments" / "m" / "v1" / "artifacts" / "model.pt2").is_file()
    (root / "rows.csv").write_text("a,b,c\n1,2,3\n4,5,6\n", encoding="utf-8")
    return root


@pytest.fixture
def crafted_project(exported_project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the project whose model.pt2 is the issue's archive, its version.json resealed; and the
    marker the archive's pickle would write."""
    root = shutil.copytree(exported_project, tmp_path / "project")
    version = root / "deployments" / "m" / "v1"
    artifact = version / "artifacts" / "model.pt2"
    marker = tmp_path / "ran"
    weight_marked_use_pickle(artifact, tmp_path / "crafted.pt2", marker)
    shutil.move(tmp_path / "crafted.pt2", artifact)
    reseal(version)
    return root, marker


def assert_one_refusal_line(result: subprocess.CompletedProcess[str], marker: Path, server_log: bool = False) -> None:
    """Exit 1, no traceback, the refusal as the one ``error:`` line; nothing else, except for a server's own
    log lines before it (a predictor listens while it loads, and logs as it does when it starts well)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("jupyter-deploy: error: ")]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert errors == lines[-1:] if server_log else errors == lines, result.stderr
    assert len(errors) == 1 and "model.pt2" in errors[0] and "pickle" in errors[0], result.stderr
    assert not marker.exists()


@pytest.mark.kernel
@pytest.mark.slow
def test_serve_refuses_the_archive_in_one_line(crafted_project: tuple[Path, Path]) -> None:
    root, marker = crafted_project
    result = subprocess.run(
        [*CLI, "serve", "m", "--port", "0", "--timeout", "120"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert_one_refusal_line(result, marker, server_log=True)


@pytest.mark.kernel
@pytest.mark.slow
def test_predict_refuses_the_archive_in_one_line(crafted_project: tuple[Path, Path]) -> None:
    root, marker = crafted_project
    result = subprocess.run(
        [*CLI, "predict", "m", "rows.csv", "--output", "out.csv"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert_one_refusal_line(result, marker)
    assert not (root / "out.csv").exists()


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("entry", ["image", "batch job"])
def test_the_image_and_the_batch_job_refuse_the_archive_in_one_line(
    entry: str, crafted_project: tuple[Path, Path], tmp_path: Path
) -> None:
    """As the image runs the version (``python predictor.py``) and as the Job does (``python -m
    _jd_runtime.batch``), with the version's own runtime and no jupyter-deploy on the path."""
    root, marker = crafted_project
    version = root / "deployments" / "m" / "v1"
    if entry == "image":
        command = [sys.executable, "predictor.py", "--http_port", "0"]
    else:
        command = [sys.executable, "-m", "_jd_runtime.batch", "--input", str(root / "rows.csv"), "--output", "out"]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        command, cwd=version, capture_output=True, text=True, timeout=300, check=False, env=environment
    )
    assert_one_refusal_line(result, marker, server_log=entry == "image")


@pytest.mark.kernel
@pytest.mark.slow
def test_predict_names_an_artifact_that_is_no_archive_in_one_line(exported_project: Path, tmp_path: Path) -> None:
    root = shutil.copytree(exported_project, tmp_path / "project")
    (root / "deployments" / "m" / "v1" / "artifacts" / "model.pt2").write_bytes(b"truncated download")
    reseal(root / "deployments" / "m" / "v1")
    result = subprocess.run(
        [*CLI, "predict", "m", "rows.csv", "--output", "out.csv"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1
    assert lines == [
        "jupyter-deploy: error: m v1 cannot load: model.pt2 is not a torch.export archive "
        "(torch.export.save writes one); re-export the notebook"
    ], result.stderr
