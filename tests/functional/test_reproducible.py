"""An unchanged, seeded notebook exported twice (``export --execute``, each in a fresh kernel; a markdown cell
inserted in between) gives one version, and no file of it holds a path of the exporting machine (its temporary
directory, home, or the project root): a model loaded from a local directory, a training setting naming a file.

Two small notebooks cover the kinds whose bytes could differ between runs: a torch module saved as its
``state_dict`` (safetensors) with a tensor, and transformers ``save_pretrained`` directories (config, generation
config, tokenizer files); a scikit-learn pipeline through skops (a zip), XGBoost's UBJ and LightGBM's model text,
with a DataFrame example, a captured DataFrame, a numpy array, a plain JSON value and a reference profile.
(The ``.pt2`` archive of a traced torch module is not covered here.)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest
from notebooks import exported_again, make_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

# two notebooks (each export runs a kernel: CI time), between them every kind whose bytes could differ
NOTEBOOKS: dict[str, tuple[str, ...]] = {
    "torch-transformers": (
        "import tempfile\n\nimport torch\nfrom tokenizers import Tokenizer, models, pre_tokenizers, trainers\n"
        "from torch import nn\nfrom transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast",
        "bpe = Tokenizer(models.BPE())\nbpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)\n"
        "bpe.train_from_iterator(['hello world', 'good movie', 'bad film'], "
        "trainers.BpeTrainer(vocab_size=280, special_tokens=['<|endoftext|>'], "
        "initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))\n"
        "tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token='<|endoftext|>', "
        "pad_token='<|endoftext|>')",
        "torch.manual_seed(0)\nmodel = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, "
        "vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=0, pad_token_id=0)).eval()",
        # loaded back from a local directory, as a fine-tuned checkpoint is: transformers remembers where
        "checkpoint = tempfile.mkdtemp()\nmodel.save_pretrained(checkpoint)\ntokenizer.save_pretrained(checkpoint)\n"
        "model = GPT2LMHeadModel.from_pretrained(checkpoint).eval()\n"
        "tokenizer = PreTrainedTokenizerFast.from_pretrained(checkpoint)",
        # data-dependent control flow: torch.export cannot trace it, so its state_dict is saved
        "class Gate(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n"
        "        self.inp = nn.Linear(3, width)\n        self.out = nn.Linear(width, 2)\n\n"
        "    def forward(self, x):\n        h = self.inp(x)\n        return self.out(h.relu() if h.sum() > 0 else -h)",
        "gate = Gate(8).eval()\nbias = torch.randn(2)",
        "%%deploy example\nexample_input = ['hello world', 'good movie']",
        "%%deploy predict\ndef predict(texts):\n"
        "    batch = tokenizer(texts, return_tensors='pt', padding=True)\n"
        "    return (gate(model(**batch).logits[:, -1, :3]) + bias).tolist()",
    ),
    "tabular": (
        "import json\nimport os\nimport tempfile\n\nimport lightgbm as lgb\nimport numpy as np\nimport pandas as pd\n"
        "import xgboost as xgb\nfrom sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler",
        "rng = np.random.default_rng(0)\nframe = pd.DataFrame(rng.normal(size=(80, 3)), columns=['a', 'b', 'c'])\n"
        "labels = (frame['a'] + frame['b'] > 0).astype(int)\n"
        "model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)\n"
        "booster = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(frame, labels)\n"
        # a training setting that names a file: LightGBM writes it into the model text's parameters
        "splits = os.path.join(tempfile.mkdtemp(), 'splits.json')\n"
        "with open(splits, 'w') as f:\n    json.dump({'feature': 0, 'threshold': 0.0}, f)\n"
        "gbm = lgb.LGBMRegressor(n_estimators=4, min_child_samples=5, verbose=-1, forcedsplits_filename=splits)"
        ".fit(frame, frame['c'])\n"
        "names = pd.DataFrame({'label': [0, 1], 'name': ['low', 'high']})\n"
        "offsets = rng.normal(size=2)\nsettings = dict(threshold=0.5, classes=['low', 'high'])",
        "%%deploy example\nexample_input = frame.iloc[:4]",
        "%%deploy reference\nreference_input = frame",
        "%%deploy predict\ndef predict(rows):\n"
        "    p = np.clip(model.predict_proba(rows)[:, 1] + offsets[0] * 1e-12, 0, 1)\n"
        "    name = names['name'].to_numpy()[(p > settings['threshold']).astype(int)]\n"
        "    return pd.DataFrame({'p': p, 'name': name, 'xgb': booster.predict_proba(rows)[:, 1], "
        "'lgb': gbm.predict(rows)})",
    ),
}

# what each notebook's version captures: the kinds the test is about
ARTIFACTS = {
    "torch-transformers": {
        "bias": "bias.safetensors",
        "gate": "gate.state.safetensors",
        "model": "model.hf",
        "tokenizer": "tokenizer.hf",
    },
    "tabular": {
        "booster": "booster.xgb.ubj",
        "gbm": "gbm.lgb.txt",
        "model": "model.skops",
        "names": "names.frame.json",
        "offsets": "offsets.npy",
        "settings": "settings.json",
    },
}


def export(project: Path) -> dict:
    return exported_again(project)


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
