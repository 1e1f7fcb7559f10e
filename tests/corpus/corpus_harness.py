"""The acceptance corpus: real notebooks written by others, exported with ``--execute`` and served for real.

The oracle is each notebook's own pipeline: ``oracle_cell`` is appended to a copy of the notebook, so the kernel
that export captures from also runs the annotated preprocess -> predict -> postprocess on ``example_input`` and on
the ``check_inputs`` the notebook defines (a cell tagged ``corpus-check``), and writes the requests and its answers
to the JSON file named by ``JD_CORPUS_ANSWERS``. The served version must give the same answers over KServe v1/v2.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from notebooks import simulated_device_cell

CORPUS = Path(__file__).resolve().parent
NOTEBOOKS = CORPUS / "notebooks"
BIN = Path(sys.executable).parent
ANSWERS_VARIABLE = "JD_CORPUS_ANSWERS"
PIPELINE_ROLES = ("preprocess", "predict", "postprocess")
RTOL, ATOL = 1e-4, 1e-5
V2_DATATYPES = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint8": "UINT8",
    "bool": "BOOL",
}


class CorpusFailure(Exception):
    """A corpus notebook did not go through: ``line`` is the one line that says why (what ``expected_failure``
    records in corpus.yaml); the message may add details."""

    def __init__(self, line: str, details: str = "") -> None:
        super().__init__(line + (f"\n{details}" if details else ""))
        self.line = line


def load_entries() -> list[dict[str, Any]]:
    import yaml

    data = yaml.safe_load((CORPUS / "corpus.yaml").read_text(encoding="utf-8"))
    return list(data["notebooks"])


# -- the notebook side ------------------------------------------------------------------------------------------


def read_cells(notebook: Path) -> list[dict[str, Any]]:
    return list(json.loads(notebook.read_text(encoding="utf-8"))["cells"])


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_roles(cell: dict[str, Any]) -> set[str]:
    """The deployment roles a cell carries, by its ``%%deploy ROLE`` line or its ``deploy:ROLE[:NAME]`` tags."""
    roles = set()
    if cell.get("cell_type") == "code":
        first = cell_source(cell).lstrip().splitlines()[:1]
        match = re.match(r"%%deploy\s+(\w+)", first[0]) if first else None
        if match:
            roles.add(match.group(1))
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag.startswith("deploy:"):
            roles.add(tag.split(":")[1])
    return roles


def annotation_forms(notebook: Path) -> set[str]:
    """Which annotation forms the notebook uses: ``magic`` and/or ``tag``."""
    forms = set()
    for cell in read_cells(notebook):
        if cell.get("cell_type") == "code" and cell_source(cell).lstrip().startswith("%%deploy"):
            forms.add("magic")
        if any(tag.startswith("deploy:") for tag in cell.get("metadata", {}).get("tags", [])):
            forms.add("tag")
    return forms


def pipeline_roles(notebook: Path) -> list[str]:
    present = set().union(*(cell_roles(cell) for cell in read_cells(notebook)))
    return [role for role in PIPELINE_ROLES if role in present]


def oracle_cell(roles: list[str]) -> str:
    """Harness code run in the notebook's kernel after its own cells: the notebook's pipeline on each payload."""
    return f"""# jupyter-deploy corpus harness (not part of the notebook)
import json as _corpus_json, math as _corpus_math, os as _corpus_os, sys as _corpus_sys

def _corpus_plain(value):
    torch, numpy, pandas = (_corpus_sys.modules.get(m) for m in ("torch", "numpy", "pandas"))
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return [{{str(k): _corpus_plain(v) for k, v in row.items()}} for row in value.to_dict("records")]
    if pandas is not None and isinstance(value, pandas.Series):
        value = value.to_numpy()
    if numpy is not None and isinstance(value, numpy.ndarray):
        return _corpus_plain(value.tolist())
    if numpy is not None and isinstance(value, numpy.generic):
        return _corpus_plain(value.item())
    if isinstance(value, float) and not _corpus_math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {{str(k): _corpus_plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_corpus_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value

def _corpus_describe(value):
    torch, numpy, pandas = (_corpus_sys.modules.get(m) for m in ("torch", "numpy", "pandas"))
    if torch is not None and isinstance(value, torch.Tensor):
        kind, dtype, shape = "tensor", str(value.dtype).removeprefix("torch."), list(value.shape)
    elif numpy is not None and isinstance(value, numpy.ndarray):
        kind, dtype, shape = "array", str(value.dtype), list(value.shape)
    elif pandas is not None and isinstance(value, pandas.DataFrame):
        kind, dtype, shape = "frame", None, list(value.shape)
    else:
        kind, dtype, shape = type(value).__name__, None, None
    return {{"kind": kind, "dtype": dtype, "shape": shape, "value": _corpus_plain(value)}}

def _corpus_pipeline(value):
    for step in [{", ".join(roles)}]:
        value = step(value)
    return value

def _corpus_answer(value):
    torch = _corpus_sys.modules.get("torch")
    if torch is None:
        return _corpus_pipeline(value)
    with torch.no_grad():
        return _corpus_pipeline(value)

_corpus_cases = []
for _corpus_payload in [example_input, *check_inputs]:
    _corpus_request = _corpus_describe(_corpus_payload)
    _corpus_cases.append({{"request": _corpus_request, "answer": _corpus_describe(_corpus_answer(_corpus_payload))}})
with open(_corpus_os.environ[{ANSWERS_VARIABLE!r}], "w", encoding="utf-8") as _corpus_file:
    _corpus_json.dump({{"cases": _corpus_cases}}, _corpus_file)
"""


def prepare_project(notebook: Path, project: Path, kernel_device: str | None = None) -> Path:
    """A copy of ``notebook`` in ``project`` with the oracle cell appended (the original stays untouched), and
    with the ``kernel_device`` simulation in front when the entry names one."""
    import nbformat

    node = nbformat.read(notebook, as_version=4)
    node.cells.append(nbformat.v4.new_code_cell(oracle_cell(pipeline_roles(notebook))))
    node.cells[-1].id = "corpus-oracle"
    if kernel_device:
        node.cells.insert(0, nbformat.v4.new_code_cell(simulated_device_cell(kernel_device)))
        node.cells[0].id = "corpus-device"
    project.mkdir(parents=True, exist_ok=True)
    copy = project / notebook.name
    nbformat.write(node, copy)
    return copy


def _error_line(stderr: str, project: Path) -> str:
    """The CLI's error line; when the error goes on over several lines (a traceback from the parity process), its
    first line and its last (the exception) joined, so the line still says what broke."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("jupyter-deploy: error:")), None)
    if start is None:
        chosen = lines[-1] if lines else ""
    elif start < len(lines) - 1:
        chosen = f"{lines[start]} ... {lines[-1]}"
    else:
        chosen = lines[start]
    return chosen.replace(str(project.resolve()), "<project>").replace(str(project), "<project>")


def export_execute(
    notebook: Path, project: Path, timeout: float = 600, kernel_device: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``jupyter-deploy export --execute COPY --json``, no --allow-pickle -> (its result, the notebook's answers)."""
    copy = prepare_project(notebook, project, kernel_device)
    answers = project / "corpus-answers.json"
    env = {**os.environ, ANSWERS_VARIABLE: str(answers)}
    command = [str(BIN / "jupyter-deploy"), "export", copy.name, "--execute", "--json", "--root", "."]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise CorpusFailure(_error_line(result.stderr, project), result.stderr[-3000:])
    return json.loads(result.stdout), json.loads(answers.read_text(encoding="utf-8"))


# -- the serving side -------------------------------------------------------------------------------------------


@contextmanager
def served(project: Path, spec: str, timeout: float = 240) -> Iterator[dict[str, Any]]:
    """``jupyter-deploy serve SPEC --port 0 --json`` in a subprocess; yields its description (URLs), then stops it."""
    command = [str(BIN / "jupyter-deploy"), "serve", spec, "--port", "0", "--json", "--root", "."]
    log = project / "serve.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            command, cwd=project, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, text=True
        )
    try:
        yield _read_description(process, log, timeout)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _read_description(process: subprocess.Popen[str], log: Path, timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        text += line
        if line.rstrip() == "}":
            return dict(json.loads(text))
    process.wait(10)
    errors = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    first = next((line for line in errors if line.startswith("jupyter-deploy: error:")), errors[-1] if errors else "")
    raise CorpusFailure(f"serve: {first.split(chr(10))[0][:300]}", "\n".join(errors[-20:]))


def v1_body(request: dict[str, Any]) -> dict[str, Any]:
    """KServe v1: tensors and arrays as nested lists, DataFrames as records, strings as lists of str."""
    return {"instances": request["value"]}


def v2_body(request: dict[str, Any]) -> dict[str, Any] | None:
    """Open inference protocol: one input tensor; None when the payload has no single-tensor form."""
    import numpy as np

    if request["kind"] in ("tensor", "array"):
        datatype = V2_DATATYPES.get(request["dtype"])
        if datatype is None:
            return None
        data = np.asarray(request["value"]).ravel().tolist()
        return {"inputs": [{"name": "input-0", "shape": request["shape"], "datatype": datatype, "data": data}]}
    if request["kind"] == "list":
        array = np.asarray(request["value"], dtype=object)
        if array.size and all(isinstance(item, str) for item in array.ravel()):
            data = array.ravel().tolist()
            return {"inputs": [{"name": "input-0", "shape": list(array.shape), "datatype": "BYTES", "data": data}]}
    return None


def v2_predictions(response: dict[str, Any]) -> Any:
    import numpy as np

    output = response["outputs"][0]
    data = output["data"]
    if output["datatype"] == "BYTES":
        data = [item.decode() if isinstance(item, bytes) else item for item in data]
        return np.asarray(data, dtype=object).reshape(output["shape"]).tolist()
    return np.asarray(data).reshape(output["shape"]).tolist()


def difference(expected: Any, actual: Any, where: str = "") -> str | None:
    """Where ``actual`` departs from ``expected`` (None when they agree): floats within rtol 1e-4 / atol 1e-5,
    everything else (labels, strings, integers) exactly."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return f"{where or 'answer'}: expected keys {sorted(expected)}, got {_short(actual)}"
        for key in expected:
            found = difference(expected[key], actual[key], f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where or 'answer'}: expected {len(expected)} items, got {_short(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = difference(left, right, f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(expected, bool) or isinstance(actual, bool) or isinstance(expected, str) or expected is None:
        return None if expected == actual else f"{where or 'answer'}: expected {expected!r}, got {_short(actual)}"
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if isinstance(expected, float) or isinstance(actual, float):
            close = math.isclose(actual, expected, rel_tol=RTOL, abs_tol=ATOL)
        else:
            close = expected == actual
        return None if close else f"{where}: expected {expected!r}, got {actual!r}"
    return f"{where or 'answer'}: expected {_short(expected)}, got {_short(actual)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def check_served(description: dict[str, Any], cases: list[dict[str, Any]], v2: bool) -> int:
    """Send every case over v1 (and over v2 where it has a tensor form); returns how many v2 requests were sent."""
    import httpx

    sent_v2 = 0
    with httpx.Client(timeout=180) as client:
        for index, case in enumerate(cases):
            which = "example_input" if index == 0 else f"check_inputs[{index - 1}]"
            response = client.post(description["v1"], json=v1_body(case["request"]))
            if response.status_code != 200:
                raise CorpusFailure(f"v1 {which}: HTTP {response.status_code}", response.text[:2000])
            found = difference(case["answer"]["value"], response.json().get("predictions"))
            if found:
                raise CorpusFailure(f"v1 answer for {which} differs from the notebook's", found)
            body = v2_body(case["request"]) if v2 else None
            if body is None:
                continue
            response = client.post(description["v2"], json=body)
            if response.status_code != 200:
                raise CorpusFailure(f"v2 {which}: HTTP {response.status_code}", response.text[:2000])
            found = difference(case["answer"]["value"], v2_predictions(response.json()))
            if found:
                raise CorpusFailure(f"v2 answer for {which} differs from the notebook's", found)
            sent_v2 += 1
    return sent_v2


def run_entry(entry: dict[str, Any], project: Path) -> dict[str, Any]:
    """Export the entry's notebook in ``project`` and check the served version against the notebook's answers."""
    result, answers = export_execute(NOTEBOOKS / entry["notebook"], project, kernel_device=entry.get("kernel_device"))
    cases = answers["cases"]
    if len(cases) != 1 + entry["check_rows"]:
        defined = len(cases) - 1
        raise CorpusFailure(f"the notebook defines {defined} check_inputs, corpus.yaml says {entry['check_rows']}")
    info = result["info"]
    with served(project, f"{info['name']}@{info['version']}") as description:
        sent_v2 = check_served(description, cases, entry.get("v2", True))
    if entry.get("v2", True) and sent_v2 == 0:
        raise CorpusFailure("no v2 request could be built for this notebook: set v2: false in corpus.yaml and say why")
    return {"info": info, "cases": len(cases), "v2_requests": sent_v2}


def clean(project: Path) -> None:
    shutil.rmtree(project, ignore_errors=True)
