"""Fixtures for the manifests, validate and kube tests (a pytest plugin: register it in tests/conftest.py).

- ``make_version``: a hand-built ``deployments/NAME/vN/`` (version.json from ``VersionInfo``, a dummy
  predictor.py and requirements.txt), so these tests do not depend on the export pipeline.
- ``isvc_oracle``: KServe v0.20.0's InferenceService schema with unknown fields rejected, built here
  independently of ``jupyter_deploy.cluster.validate`` (an oracle should not share code with what it checks).
- ``kubeconfig``: a real kube-apiserver with KServe's CRDs. ``JD_KUBECONFIG`` names one that is already
  running; otherwise ``../shared/k8s/start-apiserver.sh`` starts one in a temporary directory and it is
  stopped by PID at the end. If neither works the k8s tests FAIL (CI always provides the server).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
K8S_SCRIPTS = Path(os.environ.get("JD_K8S_SCRIPTS", SHARED / "k8s"))
KSERVE_SCHEMAS = Path(os.environ.get("JD_KSERVE_SCHEMAS", SHARED / "schemas" / "kserve-v0.20.0"))
VENDORED_SCHEMA = REPO / "templates/manifests/schemas/kserve-v0.20.0/inferenceservice-v1beta1.openapiv3.json"
ISVC_SCHEMA = "inferenceservice-v1beta1.openapiv3.json"
ISVC_CRD = "serving.kserve.io_inferenceservices.yaml"


@pytest.fixture
def make_version(tmp_path: Path) -> Callable[..., Path]:
    """``make_version(name="churn", version="v1", options=None, requirements=None, root=tmp_path,
    artifacts=[PATH, ...])``: ``artifacts`` are copied into ``artifacts/`` (see ``model_artifact``)."""
    from jupyter_deploy.records import VersionInfo

    def make(
        name: str = "churn",
        version: str = "v1",
        options: dict[str, Any] | None = None,
        requirements: list[str] | None = None,
        root: Path | None = None,
        notebook: str = "notebooks/churn.ipynb",
        artifacts: list[Path] | None = None,
    ) -> Path:
        root = root or tmp_path
        directory = root / "deployments" / name / version
        (directory / "artifacts").mkdir(parents=True)
        for artifact in artifacts or []:  # copied as a captured artifact of this version
            target = directory / "artifacts" / artifact.name
            (shutil.copytree if artifact.is_dir() else shutil.copyfile)(artifact, target)
        requirements = requirements if requirements is not None else ["numpy==2.1.0", "torch==2.13.0+cpu"]
        info = VersionInfo(
            name=name,
            version=version,
            content_hash=f"{name}-{version}-0123456789abcdef",
            created="2025-01-01T00:00:00Z",
            notebook=notebook,
            options=options or {},
            requirements=requirements,
        )
        (directory / "predictor.py").write_text("# dummy predictor for manifest tests\n", encoding="utf-8")
        (directory / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        (directory / "version.json").write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
        (root / "deployments" / name / "CURRENT").write_text(version + "\n", encoding="utf-8")
        return root

    return make


def _strict_copy(node: Any) -> Any:
    if isinstance(node, dict):
        out = {key: _strict_copy(value) for key, value in node.items()}
        open_object = node.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in node and "additionalProperties" not in node and not open_object:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict_copy(item) for item in node]
    return node


@pytest.fixture(scope="session")
def isvc_oracle() -> Callable[[dict[str, Any]], list[str]]:
    """``check(document) -> ["path: message", ...]`` against the reference schema, unknown fields rejected."""
    import jsonschema

    source = KSERVE_SCHEMAS / ISVC_SCHEMA
    schema = json.loads((source if source.is_file() else VENDORED_SCHEMA).read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(_strict_copy(schema))

    def check(document: dict[str, Any]) -> list[str]:
        return [
            ".".join(map(str, error.absolute_path)) + ": " + error.message for error in validator.iter_errors(document)
        ]

    return check


def _install_crds(kubeconfig: Path) -> None:
    import yaml

    from jupyter_deploy.cluster.kube import Cluster
    from jupyter_deploy.exceptions import ValidationError

    cluster = Cluster(kubeconfig)
    crd_file = KSERVE_SCHEMAS / ISVC_CRD
    if crd_file.is_file():
        crd = yaml.safe_load(crd_file.read_text(encoding="utf-8"))
        try:
            cluster.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        except ValidationError as error:
            if "already exists" not in str(error):
                raise
    deadline = time.monotonic() + 60
    while True:
        try:
            listing = cluster.request("GET", "/apis/serving.kserve.io/v1beta1")
            if any(item["name"] == "inferenceservices" for item in listing.get("resources", [])):
                return
        except Exception as error:  # not served yet
            last = error
        else:
            last = None
        if time.monotonic() > deadline:
            pytest.fail(f"KServe's InferenceService CRD is not served ({last}); looked for it in {crd_file}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig for a real API server with KServe's CRDs installed."""
    given = os.environ.get("JD_KUBECONFIG")
    if given:
        path = Path(given)
        if not path.is_file():
            pytest.fail(f"JD_KUBECONFIG={given} does not exist")
        _install_crds(path)
        yield path
        return
    start, stop = K8S_SCRIPTS / "start-apiserver.sh", K8S_SCRIPTS / "stop-apiserver.sh"
    if not start.is_file():
        pytest.fail(f"no API server: set JD_KUBECONFIG or provide {start} (see .ci/run)")
    state = tmp_path_factory.mktemp("apiserver")
    started = subprocess.run([str(start), str(state)], capture_output=True, text=True, timeout=900, check=False)
    try:
        if started.returncode != 0:
            pytest.fail(f"start-apiserver.sh failed: {started.stderr.strip()[-2000:]}")
        path = Path(started.stdout.strip().splitlines()[-1])
        _install_crds(path)
        yield path
    finally:
        subprocess.run([str(stop), str(state)], capture_output=True, timeout=60, check=False)


# -- real model artifacts, saved by their own libraries (for --runtime stock) ----------------------------
def _xgboost_model(directory: Path) -> Path:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 3))
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(features, label=features[:, 0] > 0), 4)
    path = directory / "model.xgb.ubj"
    booster.save_model(str(path))
    return path


def _lightgbm_model(directory: Path) -> Path:
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    data = lgb.Dataset(features, label=features[:, 0] + features[:, 1])
    booster = lgb.train({"num_leaves": 4, "verbose": -1, "num_threads": 1}, data, num_boost_round=3)
    path = directory / "model.lgb.txt"
    path.write_text(booster.model_to_string(), encoding="utf-8")
    return path


def _gpt2_model(directory: Path) -> Path:
    """A tiny GPT-2 built from a config, with a byte-level BPE tokenizer trained offline."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"])
    bpe.train_from_iterator(["churn happens when customers leave", "models serve predictions"] * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=32, n_embd=16, n_layer=1, n_head=2)
    path = directory / "generator.hf"
    GPT2LMHeadModel(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


MODEL_ARTIFACTS: dict[str, Callable[[Path], Path]] = {
    "xgboost": _xgboost_model,
    "lightgbm": _lightgbm_model,
    "huggingface": _gpt2_model,
}


@pytest.fixture(scope="session")
def model_artifact(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``model_artifact(kind) -> Path``: one real artifact per kind, saved once per session (read-only use)."""
    saved: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in saved:
            saved[kind] = MODEL_ARTIFACTS[kind](tmp_path_factory.mktemp(kind))
        return saved[kind]

    return get
