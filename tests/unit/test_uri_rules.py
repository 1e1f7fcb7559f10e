"""One rule for every option that takes a URI or a storage path, and one for image references.

``--storage-uri``, ``--payload-logger`` (and the batch job's ``--input``/``--output``, tested in
tests/integration/test_batch_job.py) refuse credentials (``user:password@``, presigned/SAS query strings),
``..`` segments, whitespace and control characters, empty bucket or claim names and schemes the option does not
support; each in one line that names the option and never echoes the secret. ``--image`` follows the image
reference grammar of distribution/reference (the OCI distribution spec's names, what kubelet parses).

Oracles: URIs written by hand with the answer a reader of RFC 3986 gives (userinfo is what precedes ``@`` in the
authority), cross-checked with ``urllib.parse``; image references from the valid/invalid table of
distribution/reference's own test suite (reference_test.go).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from jupyter_deploy.cli import main
from jupyter_deploy.cluster.rules import (
    BATCH_STORAGE,
    KSERVE_STORAGE,
    PAYLOAD_LOGGER,
    image_problem,
    is_dns_label,
    is_dns_subdomain,
    redact_uri,
    uri_problem,
)
from jupyter_deploy.cluster.validate import validate_path

SECRET = "hunter2"
KEY_ID = "AKIAEXAMPLE"
DIGEST = "sha256:" + "f" * 64


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# -- the URI rule -------------------------------------------------------------------------------------------
CREDENTIAL_URIS = [
    f"s3://{KEY_ID}:{SECRET}@bucket/model",
    f"s3://{KEY_ID}:{SECRET}/with/slashes@bucket/model",  # AWS secret keys may hold '/'
    f"gs://{KEY_ID}@bucket/model",
    f"https://{KEY_ID}:{SECRET}@models.example.com/churn.joblib",
    f"hdfs://{KEY_ID}:{SECRET}@namenode:8020/models",
    f"oci://{KEY_ID}:{SECRET}@registry.example.com/churn:v1",
    f"pvc://{KEY_ID}:{SECRET}@claim/model",
    f"https://models.example.com/churn.joblib?X-Amz-Credential={KEY_ID}&X-Amz-Signature={SECRET}",
    f"https://acct.blob.core.windows.net/models/churn?sv=2022-11-02&se=2030-01-01&sig={SECRET}",
    f"https://storage.googleapis.com/b/churn?X-Goog-Signature={SECRET}",
    f"s3://bucket/model?access_key={KEY_ID}&secret_key={SECRET}",
    f"https://models.example.com/churn?token={SECRET}",
    f"https://models.example.com/churn?x=1&api_key={SECRET}",
]


@pytest.mark.parametrize("uri", CREDENTIAL_URIS)
def test_credentials_are_refused_and_never_echoed(uri):
    split = urlsplit(uri)
    carries = "@" in uri.split("?")[0] or any(
        key.lower() in {"x-amz-signature", "sig", "x-goog-signature", "secret_key", "token", "api_key"}
        for key in parse_qs(split.query)
    )
    assert carries  # the oracle agrees each one carries a credential
    for kind in (KSERVE_STORAGE, BATCH_STORAGE):
        problem = uri_problem(uri, kind)
        assert problem is not None and "\n" not in problem
        assert SECRET not in problem and KEY_ID not in problem
        if split.scheme in kind.schemes:
            assert "credential" in problem and "Secret" in problem, (uri, problem)  # and where they go instead


@pytest.mark.parametrize(
    "uri",
    [
        "pvc://claim/../../etc/passwd",
        "pvc://claim/models/..",
        "pvc://claim/%2e%2e/other-claim",
        "s3://bucket/a/../../b",
        "/data/../etc/shadow",
        "file:///data/../etc/shadow",
    ],
)
def test_parent_segments_are_refused(uri):
    problem = uri_problem(uri, BATCH_STORAGE)
    assert problem is not None and "'..'" in problem


@pytest.mark.parametrize(
    "uri",
    ["pvc://claim/in\n.csv", "pvc://claim\n/in", "s3://bucket/a b", "s3://bucket/x\t", "pvc://claim/\u202ein", "\n"],
)
def test_whitespace_and_control_characters_are_refused(uri):
    for kind in (KSERVE_STORAGE, BATCH_STORAGE):
        problem = uri_problem(uri, kind)
        assert problem is not None and "control character" in problem
        assert "\n" not in problem


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("s3:///model", "names no bucket"),
        ("gs:///model", "names no bucket"),
        ("pvc:///model", "names no PersistentVolumeClaim"),
        ("pvc://Bad_Claim/model", "not a PersistentVolumeClaim name"),
        ("https:///model", "names no host"),
        ("", "empty"),
    ],
)
def test_empty_or_bad_bucket_and_claim_names_are_refused(uri, words):
    problem = uri_problem(uri, BATCH_STORAGE if uri.startswith("pvc") else KSERVE_STORAGE)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("ftp://host/model", KSERVE_STORAGE),
        ("https://host/model", BATCH_STORAGE),  # the batch job reads through pyarrow: no http
        ("hf://org/model", BATCH_STORAGE),
        ("s3://bucket/log", PAYLOAD_LOGGER),  # the logger posts CloudEvents over HTTP
        ("/var/log/payloads", PAYLOAD_LOGGER),
        ("models/churn", BATCH_STORAGE),  # a relative path: relative to what, in a pod?
    ],
)
def test_schemes_an_option_does_not_read_are_refused(uri, kind):
    problem = uri_problem(uri, kind)
    assert problem is not None and f"is not {kind.what}" in problem


@pytest.mark.parametrize(
    ("uri", "kinds"),
    [
        ("s3://models/churn/v1", (KSERVE_STORAGE, BATCH_STORAGE)),
        ("gs://models.example.com/churn", (KSERVE_STORAGE, BATCH_STORAGE)),
        ("pvc://data/in/", (KSERVE_STORAGE, BATCH_STORAGE)),
        ("pvc://data", (KSERVE_STORAGE, BATCH_STORAGE)),
        ("hdfs://namenode:8020/models/churn", (KSERVE_STORAGE, BATCH_STORAGE)),
        ("s3://bucket/in?region=eu-west-1&endpoint_override=minio:9000", (BATCH_STORAGE,)),
        ("/data/in.csv", (KSERVE_STORAGE, BATCH_STORAGE)),
        ("file:///data/in.parquet", (BATCH_STORAGE,)),
        ("https://models.example.com/churn.joblib", (KSERVE_STORAGE,)),
        ("hf://meta-llama/Llama-3.1-8B", (KSERVE_STORAGE,)),
        (f"oci://registry.example.com:5000/ml/churn@{DIGEST}", (KSERVE_STORAGE,)),
        ("s3://bucket/run..2/model..bin", (KSERVE_STORAGE, BATCH_STORAGE)),  # '..' inside a name is no segment
        ("http://broker-ingress.knative-eventing.svc.cluster.local/ml/default", (PAYLOAD_LOGGER,)),
        ("http://logger.ml:8080", (PAYLOAD_LOGGER,)),
    ],
)
def test_ordinary_uris_are_accepted(uri, kinds):
    for kind in kinds:
        assert uri_problem(uri, kind) is None, (uri, kind.what)


def test_redaction_keeps_what_locates_and_hides_what_authenticates():
    assert redact_uri(f"s3://{KEY_ID}:{SECRET}@bucket/model") == "s3://***@bucket/model"
    assert (
        redact_uri(f"https://h/m?X-Amz-Date=1&X-Amz-Signature={SECRET}")
        == "https://h/m?X-Amz-Date=1&X-Amz-Signature=***"
    )
    assert redact_uri("s3://bucket/model") == "s3://bucket/model"
    long = uri_problem("s3://bucket/" + "x" * 10_000, KSERVE_STORAGE)
    assert long is None  # long keys are fine; only problems are shortened
    problem = uri_problem("s3://bucket/" + "x" * 10_000 + " y", KSERVE_STORAGE)
    assert problem is not None and len(problem) < 400


def test_names_refuse_a_trailing_newline():
    """``re.match`` with ``$`` accepts 'claim\\n'; Kubernetes does not."""
    assert is_dns_label("ml") and not is_dns_label("ml\n")
    assert is_dns_subdomain("claim") and not is_dns_subdomain("claim\n")


# -- the image rule -------------------------------------------------------------------------------------------
# distribution/reference's reference_test.go: (reference, valid)
IMAGE_CASES = [
    ("test_com", True),
    ("test.com:tag", True),
    ("test.com:5000", True),
    ("test.com/repo:tag", True),
    ("test:5000/repo", True),
    ("test:5000/repo:tag", True),
    (f"test:5000/repo@{DIGEST}", True),
    (f"test:5000/repo:tag@{DIGEST}", True),
    ("lowercase:Uppercase", True),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", True),
    ("b.gcr.io/test.example.com/my-app:test.example.com", True),
    ("xn--n3h.com/myimage:xn--n3h.com", True),
    ("xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + "f" * 128, True),
    ("foo_bar.com:8080", True),
    ("foo/foo_bar.com:8080", True),
    ("[2001:db8::1]:5000/repo:tag", True),
    ("a/" * 127 + "a:tag-puts-this-over-max", True),  # a name of exactly 255 characters
    ("a:" + "a" * 128, True),  # the longest tag
    ("", False),
    (":justtag", False),
    (f"@{DIGEST}", False),
    ("repo@sha256:" + "f" * 34, False),
    ("validname@invaliddigest:" + "f" * 64, False),
    ("Uppercase:tag", False),
    ("test:5000/Uppercase/lowercase:tag", False),
    ("a/" * 128 + "a:tag", False),  # a name of 257 characters
    ("a:" + "a" * 129, False),
    ("aa/asdf$$^/aa", False),
    ("[fe80::1%eth0]:5000/repo", False),
    ("a" * 10_000, False),
    ("churn:v1\n", False),
    (" churn:v1", False),
]


@pytest.mark.parametrize(("reference", "valid"), IMAGE_CASES)
def test_image_references_follow_the_distribution_grammar(reference, valid):
    problem = image_problem(reference)
    assert (problem is None) == valid, problem
    if problem:
        assert "\n" not in problem and len(problem) < 400


# -- every front door: one line, nothing written ------------------------------------------------------------
def manifests(root: Path, *args: str) -> int:
    return main(["manifests", "churn", "--root", str(root), *args])


@pytest.mark.parametrize(
    ("args", "flag", "words"),
    [
        (
            ["--runtime", "pytorch", "--storage-uri", f"s3://{KEY_ID}:{SECRET}@models/churn"],
            "--storage-uri",
            "credential",
        ),
        (
            ["--runtime", "pytorch", "--storage-uri", f"https://m.example.com/c?X-Amz-Signature={SECRET}"],
            "--storage-uri",
            "credential",
        ),
        (["--runtime", "pytorch", "--storage-uri", "pvc://models/../../etc"], "--storage-uri", "'..'"),
        (["--runtime", "pytorch", "--storage-uri", "pvc://models/churn\nx"], "--storage-uri", "control character"),
        (["--runtime", "pytorch", "--storage-uri", "s3:///churn"], "--storage-uri", "names no bucket"),
        (["--payload-logger", f"http://{KEY_ID}:{SECRET}@broker.ml/default"], "--payload-logger", "credential"),
        (["--payload-logger", f"https://broker.ml/default?token={SECRET}"], "--payload-logger", "credential"),
        (["--payload-logger", "s3://bucket/log"], "--payload-logger", "is not a URL"),
        (["--image", "a" * 10_000], "--image", "255"),
        (["--image", "registry.example.com/ml/churn:v1\n"], "--image", "image reference"),
    ],
)
def test_cli_refuses_in_one_line_and_writes_nothing(make_version, capsys, args, flag, words):
    root = make_version()
    assert manifests(root) == 0
    capsys.readouterr()
    before = snapshot(root / "deploy/churn")
    assert manifests(root, *args) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith(f"jupyter-deploy: error: {flag}") and err.count("\n") == 1, err
    assert words in err and "Traceback" not in err
    assert SECRET not in err + captured.out and KEY_ID not in err + captured.out
    assert snapshot(root / "deploy/churn") == before


def test_deploy_yaml_goes_through_the_same_rule(make_version, capsys):
    root = make_version()
    (root / "deploy.yaml").write_text(
        yaml.safe_dump({"deployments": {"churn": {"runtime": "pytorch", "storage_uri": f"s3://{KEY_ID}:{SECRET}@m/c"}}})
    )
    assert manifests(root) == 1
    err = capsys.readouterr().err
    assert "--storage-uri" in err and "credential" in err and SECRET not in err
    assert not (root / "deploy/churn").exists()


def test_validate_checks_images_and_credentials_in_manifests(make_version, capsys):
    root = make_version()
    assert manifests(root) == 0
    path = root / "deploy/churn/base/inferenceservice.yaml"
    document = yaml.safe_load(path.read_text())
    document["spec"]["predictor"]["containers"][0]["image"] = "a" * 10_000
    document["metadata"]["annotations"]["example.com/source"] = f"s3://{KEY_ID}:{SECRET}@bucket/x"
    path.write_text(yaml.safe_dump(document))
    problems = {problem.path: problem.message for problem in validate_path(root / "deploy/churn")}
    assert "255" in problems["spec.predictor.containers[0].image"]
    credential = problems["metadata.annotations.example.com/source"]
    assert "credential" in credential and SECRET not in credential
    capsys.readouterr()
    assert main(["validate", "--root", str(root)]) == 1
    assert SECRET not in capsys.readouterr().out
