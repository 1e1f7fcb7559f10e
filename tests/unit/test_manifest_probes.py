"""Probes that fit the model: a startupProbe sized by ``--startup-timeout``, liveness only after it.

Kubernetes restarts a container whose liveness probe fails ``failureThreshold`` times; a startupProbe holds
the liveness and readiness probes back until it succeeds once, and restarts the container only after
``periodSeconds * failureThreshold`` of failures. The oracle for the sizes is the arithmetic of the
Kubernetes documentation ("Protect slow starting containers with startup probes") applied to durations
written out by hand here (10m is 600 s), not our parser; the shapes are checked against KServe's own schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.exceptions import OptionsError

BUCKET = "s3://models-bucket/churn"
DEFAULT_SECONDS = 600  # the default --startup-timeout: 10 minutes


def isvc(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/churn/base/inferenceservice.yaml").read_text())


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def startup_budget(probe: dict) -> int:
    """How long Kubernetes waits before it restarts a container that never passes ``probe``."""
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def assert_covers(probe: dict, seconds: int) -> None:
    """At least ``seconds`` of start-up, and not a whole probe period more (the timeout is what was asked)."""
    period = probe.get("periodSeconds", 10)
    assert seconds <= startup_budget(probe) < seconds + period, (probe, seconds)


def predictor_container(document: dict) -> dict:
    return document["spec"]["predictor"]["containers"][0]


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(None, DEFAULT_SECONDS), ("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("5s", 5), ("25m", 1500)],
)
def test_startup_probe_waits_for_the_model_and_liveness_only_after_it(make_version, isvc_oracle, given, seconds):
    root = make_version()
    write_manifests(root, "churn", {} if given is None else {"startup_timeout": given})
    document = isvc(root)
    assert isvc_oracle(document) == []
    container = predictor_container(document)
    startup, readiness, liveness = (container[key] for key in ("startupProbe", "readinessProbe", "livenessProbe"))
    # the model-ready endpoint of the predictor (KServe's v2 protocol, model named as the deployment)
    assert startup["httpGet"] == {"path": "/v2/models/churn/ready", "port": 8080}
    assert readiness["httpGet"] == {"path": "/v2/models/churn/ready", "port": 8080}
    assert liveness["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert_covers(startup, seconds)
    # no delay games: the startupProbe is what holds liveness back while the model loads
    assert "initialDelaySeconds" not in liveness and "initialDelaySeconds" not in readiness
    assert container["ports"][0]["containerPort"] == 8080


def test_startup_timeout_comes_from_the_magic_line_and_deploy_yaml_and_the_cli_wins(make_version):
    root = make_version(options={"startup_timeout": "20m"})  # the %%deploy line, recorded in version.json
    write_manifests(root, "churn")
    assert_covers(predictor_container(isvc(root))["startupProbe"], 1200)
    (root / "deploy.yaml").write_text("deployments:\n  churn:\n    startup_timeout: 45m\n", encoding="utf-8")
    write_manifests(root, "churn")  # the magic line is over deploy.yaml
    assert_covers(predictor_container(isvc(root))["startupProbe"], 1200)
    other = make_version(name="other", root=root / "elsewhere")
    (other / "deploy.yaml").write_text("defaults:\n  startup-timeout: 45m\n", encoding="utf-8")
    write_manifests(other, "other")
    document = yaml.safe_load((other / "deploy/other/base/inferenceservice.yaml").read_text())
    assert_covers(predictor_container(document)["startupProbe"], 2700)
    assert main(["manifests", "churn", "--root", str(root), "--startup-timeout", "2m"]) == 0
    assert_covers(predictor_container(isvc(root))["startupProbe"], 120)


@pytest.mark.parametrize(
    "bad",
    [
        "ten minutes",
        "10",
        "600",
        "0s",
        "0m",
        "-5m",
        "1.5h",
        "10M",
        "10 m",
        "m",
        "",
        "10m\n",
        "999999h",
        "25h",
        "9" * 5000 + "h",
    ],
)
def test_a_startup_timeout_that_is_not_a_duration_is_one_line_and_writes_nothing(make_version, capsys, bad):
    root = make_version()
    write_manifests(root, "churn")
    before = snapshot(root / "deploy/churn")
    with pytest.raises(OptionsError) as caught:
        write_manifests(root, "churn", {"startup_timeout": bad})
    message = str(caught.value)
    assert message.startswith("--startup-timeout") and "\n" not in message
    assert main(["manifests", "churn", "--root", str(root), f"--startup-timeout={bad}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jupyter-deploy: error: --startup-timeout") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert snapshot(root / "deploy/churn") == before
    assert [p.name for p in (root / "deploy").iterdir()] == ["churn"]  # no temporary directory left


def test_a_bad_startup_timeout_in_deploy_yaml_is_refused_before_writing(make_version):
    root = make_version()
    (root / "deploy.yaml").write_text("defaults:\n  startup_timeout: soon\n", encoding="utf-8")
    with pytest.raises(OptionsError, match=r"^--startup-timeout: 'soon' is not a duration"):
        write_manifests(root, "churn")
    assert not (root / "deploy").exists()


@pytest.mark.parametrize("model", ["xgboost", "huggingface"])
def test_kserves_own_runtimes_get_the_startup_probe(make_version, model_artifact, isvc_oracle, model):
    root = make_version(artifacts=[model_artifact(model)])
    write_manifests(root, "churn", {"runtime": "stock", "storage_uri": f"{BUCKET}/v1", "startup_timeout": "30m"})
    document = isvc(root)
    assert isvc_oracle(document) == []
    spec = document["spec"]["predictor"]["model"]
    # KServe's runtimes name the model themselves: the server-wide readiness of the v2 protocol
    assert spec["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert_covers(spec["startupProbe"], 1800)
    assert "livenessProbe" not in spec  # the runtime's own (none by default): nothing to hold back


def test_both_predictors_of_a_canary_get_probes(make_version, model_artifact, isvc_oracle):
    root = make_version(version="v1")
    write_manifests(root, "churn", {"mode": "Knative", "startup_timeout": "15m"})
    make_version(version="v2", root=root)
    write_manifests(root, "churn@v2", {"mode": "Knative", "canary": 25, "startup_timeout": "15m"})
    document = isvc(root)
    assert isvc_oracle(document) == []
    assert document["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert_covers(predictor_container(document)["startupProbe"], 900)

    stock = make_version(version="v1", root=root / "stock", artifacts=[model_artifact("xgboost")])
    options = {"runtime": "stock", "startup_timeout": "15m"}
    write_manifests(stock, "churn@v1", {**options, "storage_uri": f"{BUCKET}/v1"})
    make_version(version="v2", root=stock, artifacts=[model_artifact("xgboost")])
    write_manifests(stock, "churn@v2", {**options, "storage_uri": f"{BUCKET}/v2", "canary": 20})
    document = isvc(stock)
    assert isvc_oracle(document) == []
    for model in (document["spec"]["predictor"]["model"], document["spec"]["canary"][0]["predictor"]["model"]):
        assert_covers(model["startupProbe"], 900)


def test_the_magic_line_takes_the_option_like_the_others():
    from jupyter_deploy.project import parse_option_tokens

    assert parse_option_tokens(["--startup-timeout", "20m", "--gpu", "1"]) == {"startup_timeout": "20m", "gpu": 1}
    assert parse_option_tokens(["--startup-timeout=1h30m"]) == {"startup_timeout": "1h30m"}
