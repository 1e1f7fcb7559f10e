"""``manifests --payload-logger URL [--payload-logger-mode M]``: KServe's ``logger`` spec, checked against the
vendored CRD (``isvc_oracle``: KServe v0.20's schema), and refused in one line when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.manifests import write_manifests
from jupyter_deploy.exceptions import OptionsError

BROKER = "http://broker-ingress.knative-eventing.svc.cluster.local/ml/default"


def predictor(root: Path) -> dict:
    return yaml.safe_load((root / "deploy/churn/base/inferenceservice.yaml").read_text())["spec"]["predictor"]


def test_logger_spec_is_written_and_matches_kserve_schema(make_version, isvc_oracle, capsys):
    root = make_version()
    assert main(["manifests", "churn", "--root", str(root), "--payload-logger", BROKER]) == 0
    document = yaml.safe_load((root / "deploy/churn/base/inferenceservice.yaml").read_text())
    assert isvc_oracle(document) == []
    assert document["spec"]["predictor"]["logger"] == {"mode": "all", "url": BROKER}

    write_manifests(root, "churn", {"payload_logger": BROKER, "payload_logger_mode": "request"})
    assert predictor(root)["logger"] == {"mode": "request", "url": BROKER}
    write_manifests(root, "churn")
    assert "logger" not in predictor(root)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"payload_logger": "broker.svc:8080"}, "not a URL KServe's payload logger can post to"),
        ({"payload_logger": "ftp://broker/x"}, "not a URL KServe's payload logger can post to"),
        ({"payload_logger": BROKER, "payload_logger_mode": "both"}, "not a payload logger mode"),
        ({"payload_logger_mode": "request"}, "--payload-logger-mode needs --payload-logger URL"),
    ],
)
def test_bad_logger_options_are_one_line_and_write_nothing(make_version, options, message):
    root = make_version()
    with pytest.raises(OptionsError) as caught:
        write_manifests(root, "churn", options)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (root / "deploy" / "churn").exists()
