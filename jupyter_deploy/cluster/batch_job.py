"""``manifests NAME --batch-job``: batch prediction on the cluster, as a Kubernetes Indexed Job (batch/v1).

K pods (``completions = parallelism = K``, ``completionMode: Indexed``) run the predictor image of the version,
the same image reference and GPU options (``nvidia.com/gpu`` limit, node selector, tolerations) as its
InferenceService, with the version's own batch entry point ``python -m _jd_runtime.batch``: pod INDEX reads
shard INDEX of the input and writes ``part-INDEX.parquet`` to the output. jupyter-deploy is not in the image.

Input and output: ``pvc://CLAIM/PATH`` (the claim is mounted), ``s3://``, ``gs://``, ``hdfs://`` (read by
pyarrow with credentials from ``--env-secret``), or an absolute path inside the image; checked by the URI rule
of ``rules`` (a URI never carries a credential). The Job lands in
``deploy/NAME/batch-job.yaml``, beside ``base/`` and not in its kustomization (a Job runs once; ``apply`` of
the base must not re-run it). Indexed Jobs need Kubernetes 1.24 (GA; 1.21-1.23 with a feature gate).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from ..exceptions import OptionsError, ValidationError
from ..files import write_atomic
from .rules import BATCH_STORAGE, uri_problem

JOB_FILE = "batch-job.yaml"
TEMPLATE = "manifests/batch-job.yaml.j2"
KUBERNETES_VERSION = "1.30.0"  # the schema it is validated against (completionMode: 1.21 alpha, 1.24 GA)
MAX_PARALLELISM = 1000
PVC_ROOT = "/mnt/pvc"
REFUSED_OPTIONS = ("canary", "storage_uri")


def job_path(root: str | Path, name: str) -> Path:
    from .layout import deploy_dir

    return deploy_dir(root, name) / JOB_FILE


def place(uri: str, what: str) -> tuple[str, str | None]:
    """(the path the pod uses, the claim to mount or None) of ``--input``/``--output``; else ``OptionsError``
    (the package's one URI rule: no credentials, no '..', a claim or bucket named)."""
    problem = uri_problem(uri, BATCH_STORAGE)
    if problem:
        raise OptionsError(f"--{what}: {problem}", what)
    scheme, separator, rest = uri.partition("://")
    if separator and scheme == "pvc":
        claim, _, path = rest.partition("/")
        # non-empty parts only: an absolute part ("pvc://c//etc") would reset the join to outside the claim
        return str(PurePosixPath(PVC_ROOT, claim, *[part for part in path.split("/") if part])), claim
    return uri, None


def render_batch_job(
    root: str | Path, spec: str, cli_options: dict[str, Any], input_uri: str, output_uri: str, parallelism: int
) -> tuple[Any, str, dict[str, Any], list[str]]:
    """Check everything and render the Job: (version info, YAML text, the parsed object, notes for the user)."""
    import yaml

    from ..render import render
    from .plan import plan
    from .rendering import predictor_context
    from .validate import validate_document

    given = [option for option in REFUSED_OPTIONS if cli_options.get(option) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise OptionsError(f"{flag} has no meaning for --batch-job (it runs the predictor image once)", given[0])
    if not isinstance(parallelism, int) or not 1 <= parallelism <= MAX_PARALLELISM:
        raise OptionsError(f"--parallelism {parallelism}: give a number of pods from 1 to {MAX_PARALLELISM}")
    options, rollout = plan(root, spec, {key: value for key, value in cli_options.items() if key != "canary"})
    if options.runtime != "predictor":
        raise OptionsError(
            f"--batch-job runs the version's predictor image, not KServe's {options.runtime} runtime: drop --runtime",
            "runtime",
        )
    info = rollout.info
    input_path, input_claim = place(input_uri, "input")
    output_path, output_claim = place(output_uri, "output")
    claims: list[tuple[str, str, bool]] = []
    for claim, read_only in ((input_claim, input_claim != output_claim), (output_claim, False)):
        if claim and claim not in [item[1] for item in claims]:
            claims.append((f"pvc-{len(claims)}", claim, read_only))
    mounts = [(volume, f"{PVC_ROOT}/{claim}", read_only) for volume, claim, read_only in claims]
    predictor = predictor_context(options, info, None, None)  # image, resources, GPU: as the InferenceService's
    context = {
        "name": info.name,
        "version": info.version,
        "job_name": f"{info.name}-batch-{info.version}"[:52].rstrip("-"),  # pods' hostnames add -INDEX
        "namespace": options.namespace,
        "labels": [
            ("app.kubernetes.io/component", "batch-predict"),
            ("app.kubernetes.io/managed-by", "jupyter-deploy"),
            ("app.kubernetes.io/name", info.name),
            ("app.kubernetes.io/version", info.version),
        ],
        "annotations": [
            ("jupyter-deploy/content-hash", info.content_hash),
            ("jupyter-deploy/input", input_uri),
            ("jupyter-deploy/output", output_uri),
        ],
        "parallelism": parallelism,
        "backoff_limit": max(3, parallelism),
        "p": predictor,
        "args": ["--input", input_path, "--output", output_path, "--shards", str(parallelism)],
        "mounts": mounts,
        "claims": claims,
    }
    text = render(TEMPLATE, **context)
    document = yaml.safe_load(text)
    problems = validate_document(document, JOB_FILE, KUBERNETES_VERSION)
    if problems:
        first = problems[0]
        raise ValidationError(
            f"the batch Job does not validate: {first.path}: {first.message}",
            [problem.as_tuple() for problem in problems],
        )
    return info, text, document, _notes(info, options)


def _notes(info: Any, options: Any) -> list[str]:
    """What the user must still see to: the image's batch dependencies."""
    from .rendering import requirement_names

    names = requirement_names(info.requirements)
    missing = [name for name in ("pandas", "pyarrow") if name not in names]
    if not missing or options.image:
        return []
    extras = " ".join(f"--requirement {name}" for name in missing)
    return [
        f"{info.name} {info.version} does not list {' and '.join(missing)}, which the batch job needs in its image: "
        f"export again with {extras}"
    ]


def write_batch_job(
    root: str | Path, spec: str, cli_options: dict[str, Any], input_uri: str, output_uri: str, parallelism: int
) -> dict[str, Any]:
    """Write ``deploy/NAME/batch-job.yaml`` (validated first; nothing is written when anything is wrong)."""
    info, text, document, notes = render_batch_job(root, spec, cli_options, input_uri, output_uri, parallelism)
    path = job_path(root, info.name)
    changed = not path.is_file() or path.read_text(encoding="utf-8") != text
    if changed:
        write_atomic(path, text)
    return {
        "name": info.name,
        "version": info.version,
        "path": str(path),
        "changed": changed,
        "job": document["metadata"]["name"],
        "parallelism": parallelism,
        "image": document["spec"]["template"]["spec"]["containers"][0]["image"],
        "notes": notes,
    }
