"""Text generation benchmark: ``model.generate`` served by our predictor against the same call in-process.

A GPT-2-architecture model built from a config (4 layers, 256 wide; no download) and a byte-level BPE
tokenizer trained offline; a notebook builds them, ``jupyter-deploy export --execute`` captures both through
``save_pretrained``, and the version is served on KServe's model server over loopback, as the tests do.
Each prompt is one v1 request at concurrency 1 (``{"instances": [prompt]}``), greedy, exactly
``--tokens`` new tokens. The in-process side runs the notebook's own cells and calls the same ``predict`` on
the same prompts. Rounds alternate between the two sides (the machine is shared and noisy) and the best
round of each counts. Prints tokens/s for both and the ratio (target: served >= 0.9x in-process). Usage:
``python benchmarks/generate.py [--tokens 32] [--rounds 3] [--quick]``; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BUILD = """
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "jupyter notebooks turn into model services on kubernetes",
    "a model server answers requests over http",
    "tokens per second is what a language model server is judged by",
]
bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
alphabet = pre_tokenizers.ByteLevel.alphabet()
trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet)
bpe.train_from_iterator(CORPUS, trainer)
tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
torch.manual_seed(0)
config = GPT2Config(
    n_layer=4, n_embd=256, n_head=4, n_positions=256, vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=0
)
model = GPT2LMHeadModel(config).eval()
"""

PREDICT = """
def predict(texts):
    batch = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
    out = model.generate(
        **batch, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0
    )
    return tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
"""

PROMPTS = [
    "the quick brown fox",
    "jupyter notebooks",
    "a model server",
    "tokens per second",
    "kubernetes runs",
    "the lazy dog jumps",
    "language models answer",
    "over http",
]


def write_notebook(path: Path, new_tokens: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from notebooks import make_notebook

    return make_notebook(
        path,
        BUILD.strip(),
        f"NEW_TOKENS = {new_tokens}",
        f"%%deploy example --name generate\nexample_input = {PROMPTS[:1]!r}",
        "%%deploy predict --name generate\n" + PREDICT.strip(),
    )


def in_process(new_tokens: int) -> Any:
    """The notebook's own cells, run here: the same model (same seed) and the same predict."""
    namespace: dict[str, Any] = {"NEW_TOKENS": new_tokens}
    exec(compile(BUILD + PREDICT, "<notebook>", "exec"), namespace)
    return namespace["predict"]


def time_in_process(predict: Any, prompts: list[str]) -> tuple[float, list[str]]:
    import torch

    answers = []
    start = time.perf_counter()
    with torch.inference_mode():
        for prompt in prompts:
            answers.extend(predict([prompt]))
    return time.perf_counter() - start, answers


def time_served(client: Any, url: str, prompts: list[str]) -> tuple[float, list[str]]:
    answers = []
    start = time.perf_counter()
    for prompt in prompts:
        response = client.post(url, content=json.dumps({"instances": [prompt]}), headers=JSON)
        response.raise_for_status()
        answers.extend(response.json()["predictions"])
    return time.perf_counter() - start, answers


JSON = {"content-type": "application/json"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per prompt")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round of 8 tokens (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.rounds = 8, 1

    import httpx

    from jupyter_deploy.execute import execute_and_export
    from jupyter_deploy.serve import start_server

    with tempfile.TemporaryDirectory(prefix="jd-generate-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        notebook = write_notebook(work / "generate.ipynb", args.tokens)
        result = execute_and_export(notebook, root=work, name="generate")
        parity = result.info.parity.status if result.info.parity else "none"
        artifacts = sorted(result.info.artifacts.values())
        print(f"export --execute: {time.perf_counter() - started:.1f} s, artifacts {artifacts}, parity {parity}")
        predict = in_process(args.tokens)
        server = start_server(work, "generate", port=0)
        try:
            with httpx.Client(timeout=120) as client:
                # warm-up: the first generate pays for lazy initialisation on both sides
                time_in_process(predict, PROMPTS[:2])
                time_served(client, server.v1_url, PROMPTS[:2])
                local_best = served_best = float("inf")
                for _ in range(args.rounds):
                    local, expected = time_in_process(predict, PROMPTS)
                    served, answers = time_served(client, server.v1_url, PROMPTS)
                    if answers != expected:
                        print("served answers differ from the in-process ones", file=sys.stderr)
                        return 1
                    local_best, served_best = min(local_best, local), min(served_best, served)
        finally:
            server.stop()
    tokens = len(PROMPTS) * args.tokens
    local_rate, served_rate = tokens / local_best, tokens / served_best
    print(f"prompts {len(PROMPTS)} x {args.tokens} new tokens, greedy, concurrency 1, best of {args.rounds} rounds")
    print(f"{'in-process generate':<28}{local_rate:>10.1f} tokens/s")
    print(f"{'served (v1, KServe)':<28}{served_rate:>10.1f} tokens/s")
    ratio = served_rate / local_rate
    print(f"{'ratio served/in-process':<28}{ratio:>10.3f}x   (target >= 0.9x: {'met' if ratio >= 0.9 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
