"""Tabular models from a real kernel (``jupyter-deploy export --execute``), served on KServe's model server.

scikit-learn through skops (trusted types written in the predictor), XGBoost's UBJ, LightGBM's model text,
pandas DataFrames as ``example_input`` and as requests. Each notebook writes what it computed itself
(``expected.json``): the oracle for the parity check and for every served answer.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from notebooks import expected, export, exported, reseal, version

SKLEARN_IMPORTS = (
    "import json\n\nimport numpy as np\nimport pandas as pd\nfrom sklearn.compose import ColumnTransformer\n"
    "from sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import Pipeline, make_pipeline\n"
    "from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler"
)
IRIS_FRAME = (
    "iris = load_iris(as_frame=True)\n"
    "frame = iris.data.rename(columns=lambda c: c.replace(' (cm)', '').replace(' ', '_'))\n"
    "frame['size'] = np.where(frame['sepal_length'] > 5.8, 'big', 'small')\n"
    "labels = iris.target_names[iris.target].astype(object)\n"
    "numeric = [c for c in frame.columns if c != 'size']"
)
# a function the notebook defines, inside the pipeline: trusted because the predictor carries its source
CLIP = "def clip_outliers(x):\n    return np.clip(x, 0.0, 7.5)"
PIPELINE = (
    "model = Pipeline([\n"
    "    ('prep', ColumnTransformer([\n"
    "        ('num', make_pipeline(FunctionTransformer(clip_outliers), StandardScaler()), numeric),\n"
    "        ('cat', OneHotEncoder(handle_unknown='ignore'), ['size']),\n"
    "    ])),\n"
    "    ('clf', LogisticRegression(max_iter=500)),\n"
    "]).fit(frame, labels)"
)
# the notebook's own answers on example_input and on rows of the other classes, and those rows
ORACLE = (
    "others = frame.iloc[[50, 100, 149, 75]]\n"
    "with open('expected.json', 'w') as f:\n"
    "    json.dump({'example': jsonable(predict(example_input)), 'others': jsonable(predict(others)),\n"
    "               'rows': others.to_dict(orient='records')}, f)"
)
JSONABLE = (
    "def jsonable(value):\n"
    "    return value.to_dict(orient='records') if isinstance(value, pd.DataFrame) else np.asarray(value).tolist()"
)


def close(actual: Any, wanted: Any) -> bool:
    """Records, lists and numbers equal up to float noise; strings exactly."""
    if isinstance(wanted, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == wanted.keys()
            and all(close(actual[k], wanted[k]) for k in wanted)
        )
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(actual) == len(wanted) and all(map(close, actual, wanted))
    if isinstance(wanted, float):
        return isinstance(actual, (int, float)) and abs(actual - wanted) <= 1e-9 * max(1.0, abs(wanted))
    return bool(actual == wanted)


def v2_columns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One v2 input per column (BYTES for text), shape [N]."""
    return [
        {
            "name": column,
            "shape": [len(rows)],
            "datatype": "BYTES" if isinstance(rows[0][column], str) else "FP64",
            "data": [row[column] for row in rows],
        }
        for column in rows[0]
    ]


@pytest.fixture
def serve(project: Path) -> Any:
    from jupyter_deploy.serving.local import start_server

    started: list[Any] = []

    def start(name: str = "m") -> Any:
        server = start_server(project, name, port=0)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_sklearn_pipeline_on_a_dataframe_is_served_without_pickle(project: Path, serve: Any) -> None:
    info = exported(
        project,
        SKLEARN_IMPORTS,
        IRIS_FRAME,
        CLIP,
        PIPELINE,
        "%%deploy example\nexample_input = frame.iloc[[0, 1, 2]]",
        "%%deploy predict\ndef predict(rows):\n"
        "    return pd.DataFrame({'label': model.predict(rows), 'p': model.predict_proba(rows).max(axis=1)})",
        JSONABLE,
        ORACLE,
    )
    assert info["artifacts"] == {"model": "model.skops"}
    assert info["input_spec"]["kind"] == "dataframe"
    assert [(c["name"], c["dtype"]) for c in info["input_spec"]["columns"]][-2:] == [
        ("petal_width", "float64"),
        ("size", "object"),
    ]
    predictor = (version(project) / "predictor.py").read_text()
    assert '            "sklearn.preprocessing._encoders.OneHotEncoder",\n' in predictor  # one per line
    assert '"__main__.clip_outliers",' in predictor and "def clip_outliers(x):" in predictor
    requirements = (version(project) / "requirements.txt").read_text()
    for distribution in ("scikit-learn==", "skops==", "pandas==", "scipy=="):
        assert distribution in requirements
    assert not list((version(project) / "artifacts").glob("*.pkl"))

    oracle = expected(project)
    rows, columns = oracle["rows"], list(oracle["rows"][0])
    server = serve()
    answers = {
        "v1 records": httpx.post(server.v1_url, json={"instances": rows}),
        "v1 split": httpx.post(
            server.v1_url, json={"instances": {"columns": columns, "data": [list(r.values()) for r in rows]}}
        ),
        "mlflow split, columns reordered": httpx.post(
            server.v1_url,
            json={"dataframe_split": {"columns": columns[::-1], "data": [list(r.values())[::-1] for r in rows]}},
        ),
        "v1 inputs records": httpx.post(server.v1_url, json={"inputs": rows}),
    }
    for label, answer in answers.items():
        assert answer.status_code == 200, (label, answer.text)
        assert close(answer.json()["predictions"], oracle["others"]), (label, answer.json())
    assert oracle["example"][0]["label"] == "setosa" and {r["label"] for r in oracle["others"]} == {
        "versicolor",
        "virginica",
    }
    example = httpx.post(server.v1_url, content=server.example, headers={"Content-Type": "application/json"})
    assert close(example.json()["predictions"], oracle["example"])

    v2 = httpx.post(server.v2_url, json={"inputs": v2_columns(rows)})
    assert v2.status_code == 200, v2.text
    outputs = {output["name"]: output for output in v2.json()["outputs"]}
    assert outputs["label"]["datatype"] == "BYTES"
    assert outputs["label"]["data"] == [row["label"] for row in oracle["others"]]
    assert close(outputs["p"]["data"], [row["p"] for row in oracle["others"]])

    missing = httpx.post(server.v1_url, json={"instances": [{k: v for k, v in r.items() if k != "size"} for r in rows]})
    assert missing.status_code == 400 and "missing columns 'size'" in missing.json()["error"]
    extra = httpx.post(server.v1_url, json={"instances": [dict(r, colour="red") for r in rows]})
    assert extra.status_code == 400 and "unexpected columns 'colour'" in extra.json()["error"]
    v2_missing = httpx.post(server.v2_url, json={"inputs": v2_columns(rows)[:-1]})
    assert v2_missing.status_code == 400 and "missing columns 'size'" in v2_missing.text
    wrong_type = httpx.post(server.v1_url, json={"instances": [dict(rows[0], sepal_width="wide")]})
    assert wrong_type.status_code == 400 and "'sepal_width'" in wrong_type.json()["error"]


def test_untrusted_skops_types_are_refused_at_serve_time(project: Path) -> None:
    """The list in predictor.py is the whole truth: a type outside it stops the server with one line,
    whether the list was edited or the artifact was swapped."""
    from jupyter_deploy.exceptions import ServeError
    from jupyter_deploy.serving.local import start_server

    exported(
        project,
        SKLEARN_IMPORTS,
        IRIS_FRAME,
        "model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(frame[numeric], labels)",
        "%%deploy example\nexample_input = frame[numeric].iloc[[0, 60]]",
        "%%deploy predict\ndef predict(rows):\n    return model.predict(rows)",
    )
    predictor = version(project) / "predictor.py"
    original = predictor.read_text()
    # edited as a reviewer would, in Git, with version.json updated: the check that fails is the trust list
    predictor.write_text(original.replace('            "sklearn.preprocessing._data.StandardScaler",\n', ""))
    reseal(version(project))
    with pytest.raises(ServeError, match="does not trust: sklearn.preprocessing._data.StandardScaler"):
        start_server(project, "m", port=0).stop()
    predictor.write_text(original)

    artifact = version(project) / "artifacts" / "model.skops"
    with zipfile.ZipFile(artifact) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["schema.json"] = (
        members["schema.json"]
        .replace(b'"StandardScaler"', b'"system"')
        .replace(b'"sklearn.preprocessing._data"', b'"os"')
    )
    with zipfile.ZipFile(artifact, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    reseal(version(project))
    with pytest.raises(ServeError, match="does not trust: os.system") as refused:
        start_server(project, "m", port=0).stop()
    assert "Traceback" not in str(refused.value)


def test_types_from_elsewhere_are_refused_at_export_or_pickled_when_allowed(project: Path) -> None:
    cells = (
        SKLEARN_IMPORTS + "\nfrom functools import partial",
        IRIS_FRAME,
        "model = make_pipeline(FunctionTransformer(partial(np.multiply, 2.0)), LogisticRegression(max_iter=300))"
        ".fit(frame[numeric], labels)",
        "%%deploy example\nexample_input = frame[numeric].iloc[[0, 60]]",
        "%%deploy predict\ndef predict(rows):\n    return model.predict(rows)",
    )
    refused = export(project, *cells)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "functools.partial" in refused.stderr and "--allow-pickle" in refused.stderr
    assert not (project / "deployments" / "m" / "v1").exists()

    info = exported(project, *cells, options=("--allow-pickle",))
    assert info["artifacts"] == {"model": "model.pkl"}
    assert any(line.startswith("scikit-learn==") for line in info["requirements"])


def test_lambdas_and_builtin_functions_are_never_trusted(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from jupyter_deploy.capture import CaptureContext, capture
    from jupyter_deploy.exceptions import CaptureError

    rows = np.ones((3, 2))
    for function, shown in ((lambda x: x, ".<lambda>"), (eval, "builtins.eval")):
        model = make_pipeline(FunctionTransformer(function)).fit(rows)
        with pytest.raises(CaptureError, match=shown.replace(".", "[.]")):
            capture("model", model, CaptureContext(directory=tmp_path))
        assert not list(tmp_path.iterdir())


def test_xgboost_classifier_and_booster(project: Path, serve: Any) -> None:
    info = exported(
        project,
        "import json\n\nimport numpy as np\nimport pandas as pd\nimport xgboost as xgb\n"
        "from sklearn.datasets import load_iris",
        "frame, target = load_iris(return_X_y=True, as_frame=True)\n"
        "classifier = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(frame, target)\n"
        "booster = xgb.train({'max_depth': 2}, xgb.DMatrix(frame, label=target * 1.5), num_boost_round=5)",
        "%%deploy example\nexample_input = frame.iloc[[0, 1]]",
        "%%deploy predict\ndef predict(rows):\n"
        "    scores = booster.predict(xgb.DMatrix(rows))\n"
        "    return np.column_stack([classifier.predict(rows), classifier.predict_proba(rows), scores])",
        JSONABLE,
        "others = frame.iloc[[50, 100, 149]]\n"
        "with open('expected.json', 'w') as f:\n"
        "    json.dump({'others': jsonable(predict(others)), 'rows': others.to_dict(orient='records')}, f)",
    )
    assert info["artifacts"] == {"booster": "booster.xgb.ubj", "classifier": "classifier.xgb.ubj"}
    predictor = (version(project) / "predictor.py").read_text()
    assert 'cls="XGBClassifier",' in predictor and 'cls="Booster",' in predictor
    assert any(line.startswith("xgboost") for line in info["requirements"])

    oracle = expected(project)
    assert [row[0] for row in oracle["others"]] == [1.0, 2.0, 2.0]
    server = serve()
    answer = httpx.post(server.v1_url, json={"instances": oracle["rows"]})
    assert answer.status_code == 200, answer.text
    assert close(answer.json()["predictions"], oracle["others"])


def test_lightgbm_classifier_with_string_labels_and_regressor(project: Path, serve: Any) -> None:
    info = exported(
        project,
        "import json\n\nimport lightgbm as lgb\nimport numpy as np\nimport pandas as pd\n"
        "from sklearn.datasets import load_iris",
        "iris = load_iris(as_frame=True)\nframe = iris.data\nnames = iris.target_names[iris.target]\n"
        "classifier = lgb.LGBMClassifier(n_estimators=10, min_child_samples=5, verbose=-1).fit(frame, names)\n"
        "regressor = lgb.LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1)"
        ".fit(frame.iloc[:, :3], frame.iloc[:, 3])",
        "%%deploy example\nexample_input = frame.iloc[[0, 1]]",
        "%%deploy predict\ndef predict(rows):\n"
        "    species, p = classifier.predict(rows), classifier.predict_proba(rows).max(axis=1)\n"
        "    return pd.DataFrame({'species': species, 'p': p, 'width': regressor.predict(rows.iloc[:, :3])})",
        JSONABLE,
        "others = frame.iloc[[50, 100, 149, 120]]\n"
        "with open('expected.json', 'w') as f:\n"
        "    json.dump({'others': jsonable(predict(others)), 'rows': others.to_dict(orient='records')}, f)",
    )
    assert info["artifacts"] == {"classifier": "classifier.lgb.txt", "regressor": "regressor.lgb.txt"}
    predictor = (version(project) / "predictor.py").read_text()
    assert 'classes=["setosa", "versicolor", "virginica"],' in predictor
    assert 'cls="LGBMRegressor",' in predictor

    oracle = expected(project)
    assert {row["species"] for row in oracle["others"]} == {"versicolor", "virginica"}
    server = serve()
    answer = httpx.post(server.v1_url, json={"instances": oracle["rows"]})
    assert answer.status_code == 200, answer.text
    assert close(answer.json()["predictions"], oracle["others"])
    v2 = httpx.post(server.v2_url, json={"inputs": v2_columns(oracle["rows"])})
    species = next(output for output in v2.json()["outputs"] if output["name"] == "species")
    assert species["data"] == [row["species"] for row in oracle["others"]]


# -- no kernel: the file format and the request codec on their own ----------------------------------------


def test_frame_json_round_trip_keeps_dtypes_values_and_index() -> None:
    import numpy as np
    import pandas as pd

    from jupyter_deploy.runtime.loaders.dataframe import dumps, loads

    frame = pd.DataFrame(
        {
            "int32": np.array([1, -2, 3], dtype="int32"),
            "uint8": np.array([0, 7, 255], dtype="uint8"),
            "float": [0.1 + 0.2, np.nan, 1 / 3],
            "float32": np.array([1.1, 2.5, -3.0], dtype="float32"),
            "bool": [True, False, True],
            "text": ["a", "b", "c"],
            "category": pd.Categorical(["x", "y", "x"], categories=["z", "x", "y"]),
            "ordered": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "when": pd.to_datetime(["2024-01-01 00:00:00.123456789", "2024-02-29 10:00:00", None], format="ISO8601"),
            "zoned": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-12-31"]).tz_localize("Europe/Paris"),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "string": pd.array(["a", None, "c"], dtype="string"),
        },
        index=[10, 11, 12],
    )
    pd.testing.assert_frame_equal(loads(dumps(frame)), frame)
    headerless = pd.DataFrame({1: [0.5, 1.5], 2: np.array([3, 4], dtype="int32")})  # read_csv(header=None)
    pd.testing.assert_frame_equal(loads(dumps(headerless)), headerless)
    series = pd.Series([0.30000000000000004, 2.0], name="score")
    pd.testing.assert_series_equal(loads(dumps(series)), series)


def test_mixed_object_column_is_refused_in_one_line(tmp_path: Path) -> None:
    import pandas as pd

    from jupyter_deploy.capture import CaptureContext, capture
    from jupyter_deploy.exceptions import CaptureError

    with pytest.raises(CaptureError, match=r"column 'code' of 'example_input' holds values of mixed types"):
        capture("example_input", pd.DataFrame({"code": [1, "a", 2.5]}), CaptureContext(directory=tmp_path))
    assert not list(tmp_path.iterdir())


def test_dataframe_requests_take_the_example_columns_and_dtypes() -> None:
    import pandas as pd
    from kserve import InferInput, InferRequest
    from kserve.errors import InvalidInput

    from jupyter_deploy.runtime.codec import decode
    from jupyter_deploy.runtime.spec import spec_of

    example = pd.DataFrame(
        {"n": pd.array([1, 2], dtype="int32"), "x": [0.5, 1.5], "tag": pd.Categorical(["a", "b"]), "ok": [True, False]}
    )
    spec = spec_of(example)
    assert spec["columns"][2] == {"name": "tag", "dtype": "category", "categories": ["a", "b"], "ordered": False}
    records = [{"ok": True, "tag": "b", "x": 2, "n": 7}]
    for body in (
        {"instances": records},
        {"dataframe_records": records},
        {"instances": {"columns": ["x", "n", "tag", "ok"], "data": [[2, 7, "b", True]]}},
        {"inputs": {"n": [7], "x": [2.0], "tag": ["b"], "ok": [True]}},
        {"instances": [[7, 2.0, "b", True]]},
    ):
        frame = decode(body, spec)
        assert list(frame.columns) == ["n", "x", "tag", "ok"], body
        assert frame.dtypes.equals(example.dtypes), body
        assert frame.iloc[0].tolist() == [7, 2.0, "b", True], body
    headerless = pd.DataFrame({0: [1.0], 1: ["a"]})
    frame = decode({"instances": [{"0": 2.5, "1": "b"}]}, spec_of(headerless))
    assert frame.columns.tolist() == [0, 1] and frame.iloc[0].tolist() == [2.5, "b"]
    v2 = InferRequest(
        model_name="m",
        infer_inputs=[
            InferInput(name="tag", shape=[1, 1], datatype="BYTES", data=["a"]),
            InferInput(name="n", shape=[1], datatype="INT64", data=[3]),
            InferInput(name="x", shape=[1], datatype="FP32", data=[0.25]),
            InferInput(name="ok", shape=[1], datatype="BOOL", data=[False]),
        ],
    )
    assert decode(v2, spec).dtypes.equals(example.dtypes)
    for body, message in (
        ({"instances": [{"n": 1, "x": 1.0, "tag": "a"}]}, "missing columns 'ok'"),
        ({"instances": [dict(records[0], extra=1)]}, "unexpected columns 'extra'"),
        ({"instances": [dict(records[0], tag="c")]}, "outside its categories: 'c'"),
        ({"instances": [dict(records[0], n=1.5)]}, "column 'n' takes whole numbers"),
        ({"instances": [dict(records[0], ok="yes")]}, "column 'ok' takes booleans"),
        ({"instances": [[1, 2.0]]}, "each row must have 4 values"),
    ):
        with pytest.raises(InvalidInput, match=message):
            decode(body, spec)
