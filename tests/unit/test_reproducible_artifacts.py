"""Artifact files whose bytes depend on the object only, never on the exporting process or machine.

skops names objects by memory address and zip entries carry write times; LightGBM's model text keeps the
training run's file-name parameters; transformers 4 writes the directory a model was loaded from into its
settings. Each file is checked against the library that reads it back (same predictions, same settings).
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest


def test_skops_files_of_equal_models_are_equal_bytes_and_load_with_shared_objects(tmp_path: Path) -> None:
    pytest.importorskip("skops")
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_deploy.capture.sklearn import reproducible

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), rng.integers(0, 2, size=40)
    scaler = StandardScaler()  # one object under two names: the file must keep it one object
    model = make_pipeline(ColumnTransformer([("a", scaler, [0]), ("b", scaler, [1])]), LogisticRegression()).fit(X, y)
    paths = []
    for index, value in enumerate((model, copy.deepcopy(model))):  # a copy: the same model at other addresses
        path = tmp_path / f"m{index}.skops"
        skops.io.dump(value, path)
        reproducible(path)
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    with zipfile.ZipFile(paths[0]) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        names = archive.namelist()
    assert sorted(names) == sorted(["schema.json", *(f"{number}.npy" for number in range(1, len(names)))])

    loaded = skops.io.load(paths[0], trusted=skops.io.get_untrusted_types(file=paths[0]))
    columns = loaded[0].transformers
    assert columns[0][1] is columns[1][1]
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_lightgbm_model_text_keeps_no_file_name_of_the_training_run(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    from jupyter_deploy.capture.lightgbm import without_file_names

    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"feature": 0, "threshold": 0.0}))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    params = {"verbose": -1, "num_leaves": 4, "forcedsplits_filename": str(splits)}
    booster = lightgbm.train(params, lightgbm.Dataset(X, X[:, 0]), num_boost_round=3)
    text = booster.model_to_string()
    assert str(tmp_path) in text  # what LightGBM itself writes
    cleaned = without_file_names(text)
    assert str(tmp_path) not in cleaned and "[forcedsplits_filename: ]" in cleaned
    assert cleaned.replace("[forcedsplits_filename: ]", f"[forcedsplits_filename: {splits}]") == text
    assert np.array_equal(lightgbm.Booster(model_str=cleaned).predict(X), booster.predict(X))


def test_transformers_settings_lose_the_local_directory_they_were_loaded_from(tmp_path: Path) -> None:
    """transformers 4 (not installed here; 5 no longer writes them) saves ``_name_or_path`` into config.json and
    ``name_or_path``, ``tokenizer_file``, ``special_tokens_map_file`` into tokenizer_config.json: these files are
    written as it writes them. transformers 5 reads the cleaned config back."""
    transformers = pytest.importorskip("transformers")
    from jupyter_deploy.capture.transformers import without_local_paths

    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "tokenizer.json").write_text("{}")
    saved = tmp_path / "model.hf"
    transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=10).save_pretrained(saved)
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "_name_or_path": str(checkpoint)}, indent=2))
    tokenizer = {
        "name_or_path": str(checkpoint),
        "tokenizer_file": str(checkpoint / "tokenizer.json"),
        "special_tokens_map_file": str(checkpoint / "special_tokens_map.json"),
        "model_max_length": 1024,
        "pad_token": "<pad>",
    }
    (saved / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    (saved / "vocab.json").write_text(json.dumps({"/tmp": 0, "a": 1}))  # data, not settings: left alone

    without_local_paths(saved)
    assert str(tmp_path) not in (saved / "config.json").read_text()
    assert json.loads((saved / "config.json").read_text()) == config
    assert json.loads((saved / "tokenizer_config.json").read_text()) == {"model_max_length": 1024, "pad_token": "<pad>"}
    assert json.loads((saved / "vocab.json").read_text()) == {"/tmp": 0, "a": 1}
    assert transformers.GPT2Config.from_pretrained(saved).n_embd == 8

    hub = tmp_path / "hub.hf"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({"_name_or_path": "gpt2", "model_type": "gpt2"}))
    without_local_paths(hub)  # a model's hub name is no path of this machine
    assert json.loads((hub / "config.json").read_text())["_name_or_path"] == "gpt2"
