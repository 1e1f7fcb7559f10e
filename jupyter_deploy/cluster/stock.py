"""``--runtime stock``: serve a version's captured model with one of KServe's own runtimes.

KServe ships runtimes for the kinds it loads without pickle; each reads what the storage initializer put in
``/mnt/models`` (its ``--model_dir``), so ``deploy/NAME/model/`` gets the artifact laid out that way:

- ``huggingface`` (kserve/python/huggingfaceserver): a ``save_pretrained`` directory (config, weights,
  tokenizer) loaded with ``AutoConfig``/``AutoTokenizer``; ``--backend auto`` picks vLLM when the image has
  it and the architecture is one vLLM runs (GPT-2-class generation on GPUs), else transformers.
- ``xgboost`` (xgbserver): exactly one file ending in .bst, .json or .ubj, read by ``xgb.Booster``.
- ``lightgbm`` (lgbserver): exactly one file ending in .bst, read by ``lightgbm.Booster(model_file=...)``,
  which parses LightGBM's model text.

Everything else (scikit-learn through skops, torch.export programs...) has no stock runtime that loads it
without pickle: ``--runtime stock`` is refused and the default predictor image serves it. A stock runtime
serves the model alone: the notebook's own ``predict`` code does not run there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import OptionsError

MODEL_DIR = "model"  # deploy/NAME/model/: what to upload to --storage-uri
UPLOAD_NOTE = "UPLOAD.txt"
HF_SUFFIX = ".hf"
# suffix of a captured artifact -> (KServe model format, file name in model/ or None for a directory)
STOCK_KINDS: dict[str, tuple[str, str | None]] = {
    HF_SUFFIX: ("huggingface", None),
    ".xgb.ubj": ("xgboost", "model.ubj"),  # xgbserver: one .bst/.json/.ubj; UBJSON as xgboost saved it
    ".lgb.txt": ("lightgbm", "model.bst"),  # lgbserver: one .bst; LightGBM's model text under that name
}
# captured models no stock runtime loads without pickle (jupyter_deploy/runtime/artifacts.py LOADERS)
OTHER_MODELS: dict[str, str] = {
    ".skops": "a scikit-learn model (skops): KServe's sklearn runtime loads only joblib/pickle files",
    ".pt2": "a torch.export program: KServe has no runtime for it (TorchServe wants a .mar archive)",
    ".state.safetensors": "a torch state_dict that needs its notebook class to be rebuilt",
    ".pkl": "a pickle",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json")
GENERATIVE_ARCHITECTURES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
# an https:// storageUri is downloaded as one file: the runtime's file, or an archive it unpacks
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class StockModel:
    """What ``--runtime stock`` serves for one version: its KServe format and the files to upload."""

    model_format: str
    version_dir: Path
    sources: tuple[Path, ...]  # captured artifacts (a file, or save_pretrained directories)
    filename: str | None  # the one file in model/ (xgboost, lightgbm); None: a directory's files
    generative: bool = False
    args: tuple[str, ...] = field(default=())

    def layout(self) -> dict[str, Path]:
        """``model/RELATIVE`` -> source file, in the layout the runtime reads from ``/mnt/models``."""
        if self.filename is not None:
            return {f"{MODEL_DIR}/{self.filename}": self.sources[0]}
        files: dict[str, Path] = {}
        for source in self.sources:
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                files[f"{MODEL_DIR}/{path.relative_to(source).as_posix()}"] = path
        return files

    def upload_note(self, name: str, version: str, storage_uri: str) -> str:
        what = ", ".join(source.name for source in self.sources)
        return (
            f"Upload the files of deploy/{name}/{MODEL_DIR}/ ({self.model_format} model of {name} {version}, "
            f"from deployments/{name}/{version}/artifacts/{what}) to {storage_uri}: KServe's "
            f"{self.model_format} runtime reads them there (base/inferenceservice.yaml storageUri).\n"
        )


def stock_model(version_dir: Path, gpu: bool = False) -> StockModel:
    """The stock runtime of the version in ``version_dir``, or ``OptionsError`` saying why there is none."""
    artifacts = version_dir / "artifacts"
    entries = sorted(artifacts.iterdir()) if artifacts.is_dir() else []
    found = [(entry, suffix) for entry in entries for suffix in STOCK_KINDS if entry.name.endswith(suffix)]
    others = [(entry, why) for entry in entries for suffix, why in OTHER_MODELS.items() if entry.name.endswith(suffix)]
    where = f"{version_dir.parent.name} {version_dir.name}"
    if others:
        entry, why = others[0]
        raise OptionsError(
            f"--runtime stock: {where} holds {entry.name}, {why}; the default predictor image serves it "
            "(leave out --runtime stock)",
            "runtime",
        )
    if not found:
        raise OptionsError(
            f"--runtime stock: {where} has no model KServe's runtimes load (a transformers save_pretrained "
            "directory, an XGBoost .xgb.ubj or a LightGBM .lgb.txt); the default predictor image serves it",
            "runtime",
        )
    suffixes = {suffix for _, suffix in found}
    if suffixes == {HF_SUFFIX}:
        return _huggingface(where, version_dir, [entry for entry, _ in found], gpu)
    if len(found) > 1:
        names = ", ".join(entry.name for entry, _ in found)
        raise OptionsError(
            f"--runtime stock serves one model; {where} has {len(found)} ({names}): the default predictor "
            "image serves them together",
            "runtime",
        )
    entry, suffix = found[0]
    model_format, filename = STOCK_KINDS[suffix]
    return StockModel(model_format, version_dir, (entry,), filename)


def _huggingface(where: str, version_dir: Path, directories: list[Path], gpu: bool) -> StockModel:
    """One model directory, plus tokenizer/processor directories saved beside it (merged into model/)."""
    models = [directory for directory in directories if (directory / "config.json").is_file()]
    if len(models) != 1:
        names = ", ".join(directory.name for directory in (models or directories))
        raise OptionsError(
            f"--runtime stock serves one transformers model; {where} has {len(models)} ({names}): the default "
            "predictor image serves it",
            "runtime",
        )
    seen: dict[str, str] = {}
    for directory in directories:
        for path in directory.rglob("*"):
            relative = path.relative_to(directory).as_posix()
            if path.is_file() and seen.setdefault(relative, directory.name) != directory.name:
                raise OptionsError(
                    f"--runtime stock: {seen[relative]} and {directory.name} both have {relative}; KServe's "
                    "huggingface runtime reads one directory: save the pipeline, or model and tokenizer apart",
                    "runtime",
                )
    if not any(name in seen for name in TOKENIZER_FILES):
        raise OptionsError(
            f"--runtime stock: {where} has a transformers model without its tokenizer; KServe's huggingface "
            "runtime loads both from one directory: capture the tokenizer (or a pipeline) too",
            "runtime",
        )
    config = json.loads((models[0] / "config.json").read_text(encoding="utf-8"))
    architectures = [str(item) for item in config.get("architectures") or []]
    generative = any(item.endswith(GENERATIVE_ARCHITECTURES) for item in architectures)
    # on a GPU, generation runs on vLLM; say so rather than rely on what the image happens to carry
    args = ("--backend=vllm",) if gpu and generative else ()
    ordered = tuple([models[0], *[directory for directory in directories if directory != models[0]]])
    return StockModel("huggingface", version_dir, ordered, None, generative, args)


def storage_uri_fit_problem(model: StockModel, uri: str) -> str | None:
    """Why ``uri`` cannot hold what the runtime reads (an http(s) URI is one downloaded file)."""
    scheme = uri.partition("://")[0].lower()
    if scheme not in ("http", "https"):
        return None
    path = uri.split("?", 1)[0].lower()
    if path.endswith(ARCHIVES):
        return None
    if model.filename is not None:
        extension = Path(model.filename).suffix
        if model.model_format == "xgboost" and path.endswith((".bst", ".json", ".ubj")):
            return None
        if path.endswith(extension):
            return None
        return (
            f"{uri} is downloaded as one file: end it with {extension} (the {model.model_format} runtime loads "
            f"that file) or point it at an archive ({', '.join(ARCHIVES)})"
        )
    return (
        f"{uri} is downloaded as one file, but the huggingface runtime reads a directory: use s3://, gs:// or "
        f"pvc://, or an archive of deploy/.../{MODEL_DIR}/ ({', '.join(ARCHIVES)})"
    )
