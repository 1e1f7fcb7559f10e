"""Text generation benchmark: ``model.generate`` served by our predictor against the same call in-process.

A GPT-2-architecture model built from a config (4 layers, 256 wide; no download) and a byte-level BPE
tokenizer trained offline; a notebook builds them, ``jupyter-deploy export --execute`` captures both through
``save_pretrained``, and the version is served on KServe's model server over loopback, as the tests do.
Each prompt is one v1 request at concurrency 1 (``{"instances": [prompt]}``), greedy, exactly
``--tokens`` new tokens. The in-process side runs the notebook's own cells and calls the same ``predict`` on
the same prompts. The two sides alternate prompt by prompt (the machine is shared and noisy) and the best
of the rounds counts for each. Both run torch with ``--threads`` intra-op threads (1 by default: on a busy
2-core machine two spinning threads make ``generate`` up to 100x slower and the figures pure noise).
Prints tokens/s for both and the ratio (target: served >= 0.9x in-process). Usage:
``python benchmarks/generate.py [--tokens 32] [--rounds 3] [--threads 1] [--quick]``; about two minutes here.
"""

from __future__ import annotations

import argparse
import json
import os
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


def one_in_process(predict: Any, prompt: str) -> tuple[float, list[str]]:
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        answer = predict([prompt])
    return time.perf_counter() - start, answer


def one_served(client: Any, url: str, prompt: str) -> tuple[float, list[str]]:
    start = time.perf_counter()
    response = client.post(url, content=json.dumps({"instances": [prompt]}), headers=JSON)
    response.raise_for_status()
    return time.perf_counter() - start, response.json()["predictions"]


def one_round(predict: Any, client: Any, url: str) -> tuple[float, float]:
    """Seconds for all prompts on each side, alternating; the answers must agree."""
    local = served = 0.0
    for prompt in PROMPTS:
        seconds, expected = one_in_process(predict, prompt)
        local += seconds
        seconds, answer = one_served(client, url, prompt)
        served += seconds
        if answer != expected:
            raise SystemExit(f"served answer {answer!r} differs from the in-process {expected!r} for {prompt!r}")
    return local, served


JSON = {"content-type": "application/json"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per prompt")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, both sides")
    parser.add_argument("--quick", action="store_true", help="one round of 8 tokens (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.rounds = 8, 1
    # before torch loads, here and in the server (it inherits the environment)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import httpx

    from jupyter_deploy.serving.local import start_server
    from jupyter_deploy.versions.execute import execute_and_export

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
                one_round(predict, client, server.v1_url)  # warm-up: lazy initialisation on both sides
                rounds = [one_round(predict, client, server.v1_url) for _ in range(args.rounds)]
        finally:
            server.stop()
    local_best, served_best = min(local for local, _ in rounds), min(served for _, served in rounds)
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
