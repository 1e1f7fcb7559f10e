"""``manifests NAME --runtime stock``: KServe's own runtime for the captured model, files laid out for it.

Artifacts are real files saved by xgboost, lightgbm and transformers (``model_artifact``). The oracle for
the layout is the library itself: what ``deploy/NAME/model/`` holds, loaded the way KServe's runtime loads
it (kserve python/xgbserver, lgbserver, huggingfaceserver: one booster file with an extension they look
for, or a save_pretrained directory), predicts what the original artifact predicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.cluster.validate import validate_path
from jupyter_deploy.exceptions import OptionsError

URI = "s3://models-bucket/churn/v1"
XGBSERVER_EXTENSIONS = (".bst", ".json", ".ubj")  # kserve python/xgbserver/xgbserver/model.py
LGBSERVER_EXTENSIONS = (".bst",)  # kserve python/lgbserver/lgbserver/model.py


def isvc(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/churn/base/inferenceservice.yaml").read_text())


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def model_files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root / "deploy/churn/model").as_posix() for p in (root / "deploy/churn/model").rglob("*")
    )


def stock(root: Path, uri: str = URI, **options) -> dict:
    return write_manifests(root, "churn", {"runtime": "stock", "storage_uri": uri, **options})


def test_xgboost_booster_is_one_file_xgbserver_loads(make_version, model_artifact, isvc_oracle):
    import numpy as np
    import xgboost as xgb

    root = make_version(artifacts=[model_artifact("xgboost")])
    result = stock(root)
    assert result["model_format"] == "xgboost"
    document = isvc(root)
    assert isvc_oracle(document) == [] and validate_path(root / "deploy") == []
    predictor = document["spec"]["predictor"]
    assert "containers" not in predictor
    assert predictor["model"]["modelFormat"] == {"name": "xgboost"}
    assert predictor["model"]["storageUri"] == URI
    files = model_files(root)
    assert len([name for name in files if name.endswith(XGBSERVER_EXTENSIONS)]) == 1 == len(files)
    served = xgb.Booster(model_file=bytearray((root / "deploy/churn/model" / files[0]).read_bytes()))
    original = xgb.Booster(model_file=str(model_artifact("xgboost")))
    features = xgb.DMatrix(np.random.default_rng(1).normal(size=(5, 3)))
    np.testing.assert_array_equal(served.predict(features), original.predict(features))
    assert not (root / "deploy/churn/Dockerfile").exists()  # no image of ours to build
    note = (root / "deploy/churn/UPLOAD.txt").read_text()
    assert note.count("\n") == 1 and "deploy/churn/model/" in note and URI in note and "xgboost" in note


def test_lightgbm_model_text_is_one_bst_file_lgbserver_loads(make_version, model_artifact, isvc_oracle):
    import lightgbm as lgb
    import numpy as np

    root = make_version(artifacts=[model_artifact("lightgbm")])
    stock(root, "gs://models-bucket/churn/v1")
    document = isvc(root)
    assert isvc_oracle(document) == []
    assert document["spec"]["predictor"]["model"]["modelFormat"] == {"name": "lightgbm"}
    files = model_files(root)
    assert files == [name for name in files if name.endswith(LGBSERVER_EXTENSIONS)] and len(files) == 1
    served = lgb.Booster(model_file=str(root / "deploy/churn/model" / files[0]))
    original = lgb.Booster(model_file=str(model_artifact("lightgbm")))
    features = np.random.default_rng(2).normal(size=(5, 3))
    np.testing.assert_array_equal(served.predict(features), original.predict(features))


def test_transformers_directory_for_the_huggingface_runtime_on_gpu(make_version, model_artifact, isvc_oracle):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = make_version(artifacts=[model_artifact("huggingface")])
    stock(root, "pvc://models/churn/v1", gpu=1, gpu_type="NVIDIA-H200")
    document = isvc(root)
    assert isvc_oracle(document) == [] and validate_path(root / "deploy") == []
    predictor = document["spec"]["predictor"]
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"} and model["storageUri"] == "pvc://models/churn/v1"
    assert model["args"] == ["--backend=vllm"]  # GPT-2-class generation on a GPU: KServe's vLLM backend
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}
    assert "volumes" not in predictor and "volumeMounts" not in model  # the runtime mounts its own /dev/shm
    original_dir = model_artifact("huggingface")
    assert model_files(root) == sorted(p.relative_to(original_dir).as_posix() for p in original_dir.rglob("*"))
    served_dir = root / "deploy/churn/model"
    tokenizer = AutoTokenizer.from_pretrained(served_dir)
    ids = tokenizer("churn happens", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        served = AutoModelForCausalLM.from_pretrained(served_dir)(ids).logits
        original = AutoModelForCausalLM.from_pretrained(original_dir)(ids).logits
    torch.testing.assert_close(served, original, rtol=0, atol=0)

    stock(root, "pvc://models/churn/v1")  # on CPU: KServe picks the backend itself
    assert "args" not in isvc(root)["spec"]["predictor"]["model"]


def test_stock_output_is_deterministic_and_switching_back_restores_the_image(make_version, model_artifact):
    root = make_version(artifacts=[model_artifact("xgboost")])
    stock(root)
    before = snapshot(root / "deploy/churn")
    assert stock(root)["changed"] is False and snapshot(root / "deploy/churn") == before
    other = make_version(root=root / "elsewhere", artifacts=[model_artifact("xgboost")])
    stock(other)
    assert snapshot(other / "deploy/churn") == before
    write_manifests(root, "churn")  # back to the predictor image
    after = snapshot(root / "deploy/churn")
    assert "Dockerfile" in after and not any(name.startswith(("model/", "UPLOAD")) for name in after)


@pytest.mark.parametrize(
    ("artifacts", "options", "words"),
    [
        ([], {}, "has no model KServe's runtimes load"),
        (["model.skops"], {}, "the default predictor image serves it"),
        (["program.pt2"], {}, "torch.export"),
        (["xgboost", "lightgbm"], {}, "serves one model"),
        (["xgboost"], {"storage_uri": "https://example.com/models/churn.txt"}, "end it with .ubj"),
        (["huggingface"], {"storage_uri": "https://example.com/models/churn"}, "reads a directory"),
        (["xgboost"], {"shm_size": "1Gi"}, "--shm-size"),
    ],
)
def test_stock_refusals_are_one_line_and_touch_nothing(
    make_version, model_artifact, tmp_path, artifacts, options, words
):
    paths = []
    for item in artifacts:
        if item.endswith((".skops", ".pt2")):
            path = tmp_path / item  # refused by kind before it is read
            path.write_bytes(b"")
            paths.append(path)
        else:
            paths.append(model_artifact(item))
    root = make_version(artifacts=paths)
    write_manifests(root, "churn")
    before = snapshot(root / "deploy/churn")
    with pytest.raises(OptionsError) as caught:
        write_manifests(root, "churn", {"runtime": "stock", "storage_uri": URI, **options})
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(root / "deploy/churn") == before


def test_real_skops_model_is_refused_with_the_reason(make_version, tmp_path):
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    features = np.random.default_rng(0).normal(size=(20, 2))
    path = tmp_path / "classifier.skops"
    skops.io.dump(LogisticRegression().fit(features, features[:, 0] > 0), path)
    root = make_version(artifacts=[path])
    with pytest.raises(OptionsError, match="KServe's sklearn runtime loads only joblib/pickle"):
        stock(root)
    assert not (root / "deploy").exists()


def test_huggingface_model_without_tokenizer_is_refused(make_version, model_artifact, tmp_path):
    import shutil

    bare = tmp_path / "bare.hf"
    shutil.copytree(model_artifact("huggingface"), bare)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (bare / name).unlink()
    root = make_version(artifacts=[bare])
    with pytest.raises(OptionsError, match="without its tokenizer"):
        stock(root)


def test_cli_runtime_stock(make_version, model_artifact, capsys):
    root = make_version(artifacts=[model_artifact("lightgbm")])
    args = ["manifests", "churn", "--root", str(root), "--runtime", "stock", "--storage-uri", URI]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model_format"] == "lightgbm" and str(root / "deploy/churn/model/model.bst") in data["files"]
    assert main(args) == 0
    assert "KServe lightgbm runtime" in capsys.readouterr().out
    assert main(["manifests", "churn", "--root", str(root), "--runtime", "stock"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("jupyter-deploy: error: --runtime stock needs --storage-uri") and "\n" not in err
