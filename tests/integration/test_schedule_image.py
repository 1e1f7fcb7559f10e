"""``schedule --image``: its help names the default the CronJob really gets.

``deploy.yaml``'s ``image`` is the predictor image (``manifests --image``: it serves, and never holds this
tool); the training image runs the notebook and ``jupyter-deploy retrain``, so it is another image, built from
``deploy/NAME/train/Dockerfile``. The oracle is the written CronJob and InferenceService themselves.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import build_parser, main

NOTEBOOK = Path(__file__).resolve().parent.parent / "data" / "retrain" / "tiny.ipynb"
PREDICTOR_IMAGE = "registry.example.com/team/tiny:v3"


def _schedule_image_help() -> str:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.choices and "schedule" in action.choices)
    schedule = subparsers.choices["schedule"]
    return next(action.help for action in schedule._actions if "--image" in action.option_strings)


def test_schedule_image_default_is_what_its_help_says(
    tmp_path: Path, make_version: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_version(name="tiny", version="v1", root=tmp_path, notebook="tiny.ipynb")
    shutil.copy(NOTEBOOK, root / "tiny.ipynb")
    (root / "deploy.yaml").write_text(f"deployments:\n  tiny:\n    image: {PREDICTOR_IMAGE}\n", encoding="utf-8")
    assert main(["manifests", "tiny", "--root", str(root)]) == 0
    assert main(["schedule", "tiny.ipynb", "--root", str(root), "--cron", "@daily"]) == 0
    capsys.readouterr()
    isvc = yaml.safe_load((root / "deploy/tiny/base/inferenceservice.yaml").read_text())
    cronjob = yaml.safe_load((root / "deploy/tiny/base/retrain-cronjob.yaml").read_text())
    trainer = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert isvc["spec"]["predictor"]["containers"][0]["image"] == PREDICTOR_IMAGE  # deploy.yaml's image serves
    assert trainer["image"] == "tiny-train:latest"  # and the training image is another one
    help_text = _schedule_image_help()
    assert "default NAME-train:latest" in help_text and "default: deploy.yaml" not in help_text, help_text
    assert "train/Dockerfile" in help_text
    assert (root / "deploy/tiny/train/Dockerfile").is_file()
