"""transformers objects captured from a real kernel (``jupyter-deploy export --execute``) and served by KServe.

No downloads: the models are built from tiny configs and the tokenizers trained offline with ``tokenizers``.
Each notebook writes what it computed itself (``expected.json``: its predict on example_input and on other
strings), the oracle for the parity check and for the answers of the real KServe server over v1 and v2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from notebooks import make_notebook

CLI = [str(Path(sys.executable).parent / "jupyter-deploy")]

OTHERS = ["jupyter deploys models", "a lazy dog", "ünïcode wörds", ""]
CORPUS = (
    "CORPUS = [\n    'hello world', 'the quick brown fox jumps over the lazy dog', 'good movie', 'bad film',\n"
    "    'great acting and a terrible plot', 'jupyter notebooks deploy models to kserve',\n]"
)
# the notebook's own answers, written where the test can read them (not part of the deployment)
ORACLE = (
    "import json\n\nwith open('expected.json', 'w') as f:\n"
    f"    json.dump([predict(example_input), predict({OTHERS!r})], f)"
)

GPT_CELLS = (
    "import torch\nfrom tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers\n"
    "from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast",
    CORPUS + "\nbpe = Tokenizer(models.BPE())\nbpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)\n"
    "bpe.decoder = decoders.ByteLevel()\nalphabet = pre_tokenizers.ByteLevel.alphabet()\n"
    "bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=320, special_tokens=['<|endoftext|>'], "
    "initial_alphabet=alphabet))\n"
    "tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token='<|endoftext|>', pad_token='<|endoftext|>')\n"
    "tokenizer.padding_side = 'left'",
    "torch.manual_seed(0)\nconfig = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=64, "
    "vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=0, pad_token_id=0)\n"
    "model = GPT2LMHeadModel(config).eval()",
    "%%deploy example\nexample_input = ['hello world', 'the quick brown fox']",
    "%%deploy predict\ndef predict(texts):\n"
    "    batch = tokenizer(texts, return_tensors='pt', padding=True).to(model.device)\n"
    "    out = model.generate(**batch, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)\n"
    "    return tokenizer.batch_decode(out[:, batch['input_ids'].shape[1]:], skip_special_tokens=True)",
    ORACLE,
)

CLASSIFIER_CELLS = (
    "import torch\nfrom tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers\n"
    "from transformers import DistilBertConfig, DistilBertForSequenceClassification, PreTrainedTokenizerFast, pipeline",
    CORPUS + "\nwordpiece = Tokenizer(models.WordPiece(unk_token='[UNK]'))\n"
    "wordpiece.normalizer = normalizers.Lowercase()\nwordpiece.pre_tokenizer = pre_tokenizers.Whitespace()\n"
    "wordpiece.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=120, "
    "special_tokens=['[PAD]', '[UNK]', '[CLS]', '[SEP]']))\n"
    "wordpiece.post_processor = processors.TemplateProcessing(single='[CLS] $A [SEP]', "
    "special_tokens=[('[CLS]', 2), ('[SEP]', 3)])\n"
    "tokenizer = PreTrainedTokenizerFast(tokenizer_object=wordpiece, unk_token='[UNK]', pad_token='[PAD]', "
    "cls_token='[CLS]', sep_token='[SEP]')",
    "torch.manual_seed(1)\nconfig = DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=1, n_heads=2, "
    "hidden_dim=64, max_position_embeddings=64, id2label={0: 'negative', 1: 'positive'}, "
    "label2id={'negative': 0, 'positive': 1}, initializer_range=0.3)\n"
    "model = DistilBertForSequenceClassification(config).eval()\n"
    "classifier = pipeline('text-classification', model=model, tokenizer=tokenizer, top_k=None)",
    "%%deploy example\nexample_input = ['good movie', 'bad film', 'a great plot']",
    # top_k=None makes each answer a ranked list: without the setting restored, scores[0] would fail
    "%%deploy predict\ndef predict(texts):\n"
    "    return [f\"{scores[0]['label']} {scores[0]['score']:.4f}\" for scores in classifier(texts)]",
    ORACLE,
)


def kernel_and_server(test: Any) -> Any:
    """A test that runs a notebook in a real kernel (``export --execute``) and serves it on KServe's server."""
    return pytest.mark.kernel(pytest.mark.server(pytest.mark.slow(test)))


def export(project: Path, notebook: str, *cells: str) -> subprocess.CompletedProcess[str]:
    make_notebook(project / notebook, *cells)
    return subprocess.run(
        [*CLI, "export", notebook, "--execute", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def exported(project: Path, notebook: str, *cells: str) -> dict[str, Any]:
    done = export(project, notebook, *cells)
    assert done.returncode == 0, done.stdout + done.stderr
    info: dict[str, Any] = json.loads(done.stdout)["info"]
    assert info["parity"]["status"] == "passed", info["parity"]
    return info


@pytest.fixture(scope="module")
def hf_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-project")


@pytest.fixture(scope="module")
def gpt(hf_project: Path) -> dict[str, Any]:
    project = hf_project / "gpt"
    project.mkdir()
    info = exported(project, "gpt.ipynb", *GPT_CELLS)
    return {"project": project, "info": info, "expected": json.loads((project / "expected.json").read_text())}


@pytest.fixture(scope="module")
def gpt_server(gpt: dict[str, Any]) -> Iterator[Any]:
    from jupyter_deploy.serving.local import start_server

    server = start_server(gpt["project"], "gpt", port=0)
    yield server
    server.stop()


def v1(server: Any, texts: list[str]) -> Any:
    response = httpx.post(server.v1_url, json={"instances": texts}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def v2(server: Any, texts: list[str]) -> Any:
    body = {"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]}
    response = httpx.post(server.v2_url, json=body, timeout=60)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["datatype"] == "BYTES" and output["shape"] == [len(texts)]
    return output["data"]


@kernel_and_server
def test_gpt2_generate_exports_through_save_pretrained_without_pickle(gpt: dict[str, Any]) -> None:
    info = gpt["info"]
    assert info["artifacts"] == {"model": "model.hf", "tokenizer": "tokenizer.hf"}
    assert info["allow_pickle"] is False and info["input_spec"]["kind"] == "list"
    version = gpt["project"] / "deployments" / "gpt" / "v1"
    files = sorted(p.relative_to(version).as_posix() for p in (version / "artifacts").rglob("*") if p.is_file())
    assert "artifacts/model.hf/model.safetensors" in files and "artifacts/tokenizer.hf/tokenizer.json" in files
    assert not any(name.endswith((".pkl", ".pt2", ".bin")) for name in files)
    # what to rebuild is reviewed code: transformers' own class names, written in predictor.py
    predictor = (version / "predictor.py").read_text()
    assert 'cls="GPT2LMHeadModel"' in predictor and 'cls="TokenizersBackend"' in predictor
    assert "trust_remote_code" not in predictor
    requirements = (version / "requirements.txt").read_text()
    for package in ("transformers==", "torch==", "tokenizers==", "safetensors=="):
        assert package in requirements
    # the notebook's answers are text, and not all the same (a broken model would repeat itself)
    on_example, on_others = gpt["expected"]
    assert len(set(on_example + on_others)) > 1 and all(isinstance(text, str) for text in on_example)


@kernel_and_server
def test_served_gpt2_answers_v1_and_v2_with_the_notebooks_text(gpt: dict[str, Any], gpt_server: Any) -> None:
    on_example, on_others = gpt["expected"]
    example = ["hello world", "the quick brown fox"]
    assert v1(gpt_server, example) == on_example
    assert v1(gpt_server, OTHERS) == on_others
    assert v2(gpt_server, example) == on_example
    assert v2(gpt_server, OTHERS) == on_others


@kernel_and_server
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_served_text_over_kserves_own_v2_client(gpt: dict[str, Any], gpt_server: Any, binary: bool) -> None:
    """KServe's InferInput with BYTES (what its own clients send, as JSON or a binary body) in, BYTES back."""
    import asyncio

    import numpy as np
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    tensor = InferInput(name="text", shape=[len(OTHERS)], datatype="BYTES")
    tensor.set_data_from_numpy(np.array([text.encode() for text in OTHERS], dtype=object), binary_data=binary)

    async def call() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            request = InferRequest(model_name="gpt", infer_inputs=[tensor])
            return await client.infer(gpt_server.base_url, request, model_name="gpt")
        finally:
            await client.close()

    answer = asyncio.run(call())
    assert answer.outputs[0].datatype == "BYTES"
    assert [text.decode() if isinstance(text, bytes) else text for text in answer.outputs[0].data] == gpt["expected"][1]


@kernel_and_server
def test_pipeline_with_its_settings_is_served_with_the_notebooks_labels(hf_project: Path) -> None:
    from jupyter_deploy.serving.local import start_server

    project = hf_project / "classifier"
    project.mkdir()
    info = exported(project, "sentiment.ipynb", *CLASSIFIER_CELLS)
    assert info["artifacts"] == {"classifier": "classifier.hf"}
    predictor = (project / "deployments" / "sentiment" / "v1" / "predictor.py").read_text()
    assert 'task="text-classification"' in predictor and 'cls="DistilBertForSequenceClassification"' in predictor
    assert '"top_k": None' in predictor
    on_example, on_others = json.loads((project / "expected.json").read_text())
    assert len(set(on_example + on_others)) > 3  # scores that depend on the text: weights that matter
    server = start_server(project, "sentiment", port=0)
    try:
        assert v1(server, ["good movie", "bad film", "a great plot"]) == on_example
        assert v2(server, OTHERS) == on_others
    finally:
        server.stop()


@kernel_and_server
def test_tokenizer_without_its_vocabulary_files_is_refused_in_one_line(project: Path) -> None:
    cells = (
        "import tempfile\nfrom pathlib import Path\nfrom transformers import PhobertTokenizer\n"
        "folder = Path(tempfile.mkdtemp())\n(folder / 'vocab.txt').write_text('hello 1\\nworld 1\\n')\n"
        "(folder / 'bpe.codes').write_text('h e 1\\n')\n"
        "tokenizer = PhobertTokenizer(vocab_file=str(folder / 'vocab.txt'), merges_file=str(folder / 'bpe.codes'))\n"
        "for path in folder.iterdir():\n    path.unlink()",
        "%%deploy example\nexample_input = ['hello world']",
        "%%deploy predict\ndef predict(texts):\n    return tokenizer(texts)['input_ids']",
    )
    done = export(project, "m.ipynb", *cells)
    assert done.returncode == 1, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("jupyter-deploy:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "'tokenizer'" in lines[0] and "PhobertTokenizer" in lines[0] and "save_pretrained" in lines[0]
    assert not (project / "deployments" / "m" / "v1").exists()
    assert not list((project / "deployments" / "m").glob(".staging-*"))


def test_only_transformers_own_classes_are_saved_and_rebuilt(tmp_path: Path) -> None:
    """In-process: a subclass defined outside transformers is refused; the loader builds nothing else either."""
    import transformers

    from jupyter_deploy.capture import CaptureContext, capture
    from jupyter_deploy.exceptions import CaptureError
    from jupyter_deploy.runtime.loaders.transformers import transformers_class

    class Custom(transformers.GPT2LMHeadModel):
        pass

    config = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=32)
    with pytest.raises(CaptureError, match="not one of transformers' own classes"):
        capture("model", Custom(config), CaptureContext(directory=tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert transformers_class("GPT2LMHeadModel") is transformers.GPT2LMHeadModel
    for name in ("logging", "torch", "os.system", "__builtins__", "is_torch_available", "TensorType"):
        with pytest.raises(ValueError, match="not a class of the transformers package"):
            transformers_class(name)


def test_image_processor_and_feature_extractor_round_trip(tmp_path: Path) -> None:
    import numpy as np
    import transformers

    from jupyter_deploy.capture import CaptureContext, capture
    from jupyter_deploy.runtime.artifacts import load_artifact

    context = CaptureContext(directory=tmp_path)
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    images = transformers.ViTImageProcessor(size={"height": 8, "width": 8}, image_mean=[0.1, 0.2, 0.3])
    audio = transformers.Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=False)
    for name, value in (("images", images), ("audio", audio)):
        saved = capture(name, value, context)
        assert saved.filename == f"{name}.hf" and saved.arguments == {"cls": f'"{type(value).__name__}"'}
        back = load_artifact(tmp_path / saved.filename, cls=type(value).__name__)
        assert type(back) is type(value) and back.to_dict() == value.to_dict()
    back = load_artifact(tmp_path / "images.hf", cls=type(images).__name__)
    expected = images(image, return_tensors="np")["pixel_values"]
    assert np.array_equal(back(image, return_tensors="np")["pixel_values"], expected)
