"""An unchanged, seeded notebook exported twice (``export --execute``, each in a fresh kernel; a markdown cell
inserted in between) gives one version, and no file of it holds a path of the exporting machine (its temporary
directory, home, or the project root): a model loaded from a local directory, a training setting naming a file.

One small notebook per kind of artifact whose bytes could differ between runs: a torch module saved as its
``state_dict`` (safetensors) with a tensor; transformers ``save_pretrained`` directories (config, generation
config, tokenizer files); a scikit-learn pipeline through skops (a zip), with a DataFrame example, a captured
DataFrame, a numpy array, a plain JSON value and a reference profile; XGBoost's UBJ and LightGBM's model text.
(The ``.pt2`` archive of a traced torch module has a test of its own.)
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from notebooks import CLI, make_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

NOTEBOOKS: dict[str, tuple[str, ...]] = {
    "torch-state-dict": (
        "import torch\nfrom torch import nn\n\ntorch.manual_seed(0)",
        # data-dependent control flow: torch.export cannot trace it, so its state_dict is saved
        "class Gate(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n"
        "        self.inp = nn.Linear(3, width)\n        self.out = nn.Linear(width, 2)\n\n"
        "    def forward(self, x):\n        h = self.inp(x)\n        return self.out(h.relu() if h.sum() > 0 else -h)",
        "model = Gate(8).eval()\nbias = torch.randn(2)",
        "%%deploy example\nexample_input = [[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]]",
        "%%deploy predict\ndef predict(rows):\n    return model(torch.tensor(rows)) + bias",
    ),
    "transformers": (
        "import torch\nfrom tokenizers import Tokenizer, models, pre_tokenizers, trainers\n"
        "from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast",
        "bpe = Tokenizer(models.BPE())\nbpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)\n"
        "bpe.train_from_iterator(['hello world', 'good movie', 'bad film'], "
        "trainers.BpeTrainer(vocab_size=280, special_tokens=['<|endoftext|>'], "
        "initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))\n"
        "tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token='<|endoftext|>', "
        "pad_token='<|endoftext|>')",
        "torch.manual_seed(0)\nmodel = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, "
        "vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=0, pad_token_id=0)).eval()",
        # loaded back from a local directory, as a fine-tuned checkpoint is: transformers remembers where
        "import tempfile\n\ncheckpoint = tempfile.mkdtemp()\nmodel.save_pretrained(checkpoint)\n"
        "tokenizer.save_pretrained(checkpoint)\nmodel = GPT2LMHeadModel.from_pretrained(checkpoint).eval()\n"
        "tokenizer = PreTrainedTokenizerFast.from_pretrained(checkpoint)",
        "%%deploy example\nexample_input = ['hello world', 'good movie']",
        "%%deploy predict\ndef predict(texts):\n"
        "    batch = tokenizer(texts, return_tensors='pt', padding=True)\n"
        "    return model(**batch).logits[:, -1].argmax(-1).tolist()",
    ),
    "skops-frames-json": (
        "import numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler",
        "rng = np.random.default_rng(0)\nframe = pd.DataFrame(rng.normal(size=(60, 3)), columns=['a', 'b', 'c'])\n"
        "labels = (frame['a'] + frame['b'] > 0).astype(int)\n"
        "model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)\n"
        "names = pd.DataFrame({'label': [0, 1], 'name': ['low', 'high']})\n"
        "offsets = rng.normal(size=2)\nsettings = dict(threshold=0.5, classes=['low', 'high'])",
        "%%deploy example\nexample_input = frame.iloc[:4]",
        "%%deploy reference\nreference_input = frame",
        "%%deploy predict\ndef predict(rows):\n"
        "    p = np.clip(model.predict_proba(rows)[:, 1] + offsets[0] * 1e-12, 0, 1)\n"
        "    return pd.DataFrame({'p': p, 'name': names['name'].to_numpy()[(p > settings['threshold']).astype(int)]})",
    ),
    "xgboost-lightgbm": (
        "import json\nimport os\nimport tempfile\n\nimport lightgbm as lgb\nimport numpy as np\nimport xgboost as xgb",
        "rng = np.random.default_rng(0)\nX = rng.normal(size=(80, 4))\ny = (X[:, 0] > 0).astype(int)\n"
        "booster = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(X, y)\n"
        # a training setting that names a file: LightGBM writes it into the model text's parameters
        "splits = os.path.join(tempfile.mkdtemp(), 'splits.json')\n"
        "with open(splits, 'w') as f:\n    json.dump({'feature': 0, 'threshold': 0.0}, f)\n"
        "gbm = lgb.LGBMRegressor(n_estimators=4, min_child_samples=5, verbose=-1, forcedsplits_filename=splits)"
        ".fit(X, X[:, 1])",
        "%%deploy example\nexample_input = X[:3]",
        "%%deploy predict\ndef predict(x):\n"
        "    return np.column_stack([booster.predict_proba(x)[:, 1], gbm.predict(x)])",
    ),
}

# what each notebook's version captures: the kinds the test is about
ARTIFACTS = {
    "torch-state-dict": {"model": "model.state.safetensors", "bias": "bias.safetensors"},
    "transformers": {"model": "model.hf", "tokenizer": "tokenizer.hf"},
    "skops-frames-json": {
        "model": "model.skops",
        "names": "names.frame.json",
        "offsets": "offsets.npy",
        "settings": "settings.json",
    },
    "xgboost-lightgbm": {"booster": "booster.xgb.ubj", "gbm": "gbm.lgb.txt"},
}


def export(project: Path) -> dict:
    done = subprocess.run(
        [*CLI, "export", "m.ipynb", "--execute", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def machine_paths(project: Path) -> dict[str, bytes]:
    paths = {
        "temporary directory": tempfile.gettempdir(),
        "home": os.path.expanduser("~"),
        "project": str(project),
        "project (resolved)": str(project.resolve()),
    }
    return {label: path.encode() for label, path in paths.items() if len(path) > 1}


@pytest.mark.parametrize("kind", list(NOTEBOOKS))
def test_an_unchanged_notebook_exports_one_version_holding_no_machine_path(project: Path, kind: str) -> None:
    notebook = make_notebook(project / "m.ipynb", *NOTEBOOKS[kind])
    first = export(project)
    assert first["created"] and first["info"]["parity"]["status"] == "passed", first["info"]["parity"]
    assert first["info"]["artifacts"] == ARTIFACTS[kind]
    node = nbformat.read(notebook, as_version=4)  # the same code, with a markdown cell inserted
    node.cells.insert(1, nbformat.v4.new_markdown_cell("Notes: nothing the model depends on.", id="notes"))
    nbformat.write(node, notebook)
    second = export(project)
    version = project / "deployments" / "m" / "v1"
    assert not second["created"] and second["info"]["version"] == "v1", (kind, second.get("changed_files"))
    found = []
    for path in sorted(version.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [
            f"{path.relative_to(version)}: {label}" for label, text in machine_paths(project).items() if text in data
        ]
    assert not found, found
