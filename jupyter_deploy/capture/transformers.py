"""transformers models, tokenizers, processors and pipelines through ``save_pretrained`` (a ``NAME.hf/`` directory).

What to rebuild is written into the generated code as the names of transformers' own classes (and a
pipeline's task), never read from the directory; the loader resolves them in the ``transformers`` package
only, and never runs remote code. A pipeline is saved the way ``Pipeline.save_pretrained`` does it (model,
tokenizer and processors in one directory, the layout KServe's huggingface runtime also reads), and its call
settings (``top_k``, generation arguments...) are written into the generated code as literals.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..exceptions import CaptureError
from ..render import pyliteral
from .base import CaptureContext, Saved, loaded, type_name

# (submodule defining the base class, its name): an object of the type cannot exist before the submodule loads
BASES = (
    ("transformers.modeling_utils", "PreTrainedModel"),
    ("transformers.tokenization_utils_base", "PreTrainedTokenizerBase"),
    ("transformers.processing_utils", "ProcessorMixin"),
    ("transformers.image_processing_base", "ImageProcessingMixin"),
    ("transformers.feature_extraction_utils", "FeatureExtractionMixin"),
    ("transformers.pipelines.base", "Pipeline"),
)
# a pipeline's parts, as ``transformers.pipeline`` names its keyword arguments
PIPELINE_PARTS = ("tokenizer", "feature_extractor", "image_processor", "processor")
# a pipeline's call settings (attribute ``_KEY``) that the loader restores
PIPELINE_SETTINGS = ("preprocess_params", "forward_params", "postprocess_params", "generate_kwargs", "batch_size")
TOKENIZER_PROBE = "jupyter-deploy checks 12 tokens, Ünïcode and  spaces."


def _base_classes() -> tuple[type, ...]:
    found = []
    for module_name, class_name in BASES:
        module = loaded(module_name)
        if module is not None and isinstance(getattr(module, class_name, None), type):
            found.append(getattr(module, class_name))
    return tuple(found)


def accepts(value: Any) -> bool:
    if loaded("transformers") is None:
        return False
    bases = _base_classes()
    return bool(bases) and isinstance(value, bases)


def save(name: str, value: Any, context: CaptureContext) -> Saved:
    directory = context.directory / f"{name}.hf"
    try:
        if _is_pipeline(value):
            return _save_pipeline(name, value, directory)
        arguments = {"cls": pyliteral(_transformers_class(name, value))}
        _save_pretrained(name, value, directory)
        if _is_tokenizer(value):
            _check_tokenizer(name, value, directory)
        return Saved(directory.name, arguments=arguments, modules=_modules(value))
    except CaptureError:
        shutil.rmtree(directory, ignore_errors=True)  # nothing half-written
        raise


def _is_pipeline(value: Any) -> bool:
    base = loaded("transformers.pipelines.base")
    return base is not None and isinstance(value, base.Pipeline)


def _is_tokenizer(value: Any) -> bool:
    base = loaded("transformers.tokenization_utils_base")
    return base is not None and isinstance(value, base.PreTrainedTokenizerBase)


def _transformers_class(name: str, value: Any, label: str = "") -> str:
    """The name under which ``transformers`` exports the value's class: the only classes the loader builds."""
    import transformers

    kind = type(value)
    if not kind.__module__.startswith("transformers.") or getattr(transformers, kind.__name__, None) is not kind:
        raise CaptureError(
            f"{label or repr(name)} is a {type_name(value)}, not one of transformers' own classes: jupyter-deploy "
            "rebuilds only classes of the transformers package (never remote code). Build it in a 'load' cell "
            "(%%deploy load) from files shipped with --artifact, or pass --allow-pickle if you trust whoever will "
            "load this version",
            name,
        )
    return kind.__name__


def _save_pretrained(name: str, value: Any, directory: Path) -> None:
    try:
        value.save_pretrained(str(directory))
    except Exception as error:  # transformers raises many types for objects missing their files
        raise CaptureError(
            f"{name!r} ({type_name(value)}) cannot be saved with save_pretrained ({_reason(error)}). Rebuild it from "
            "its files (e.g. from_pretrained on a directory that has them) before exporting, or build it in a "
            "'load' cell",
            name,
        ) from None
    without_local_paths(directory)


def without_local_paths(directory: Path) -> None:
    """Drop the settings that only say where the objects were loaded from on this machine: transformers 4 writes
    ``_name_or_path`` (config) and ``name_or_path`` / ``tokenizer_file`` / ``special_tokens_map_file`` (tokenizer)
    with the absolute path of a local directory or cache. Loading never reads them; a version must not carry them."""
    for path in sorted(directory.glob("*.json")):
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # not a settings file (a vocabulary, say): left as saved
        if not isinstance(settings, dict):
            continue
        local = [key for key, value in settings.items() if _location_key(key) and _local_path(value)]
        if local:
            for key in local:
                del settings[key]
            path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _location_key(key: str) -> bool:
    return key.endswith(("name_or_path", "_file", "_dir", "_path"))


def _local_path(value: Any) -> bool:
    """An absolute path on this machine (it, or the directory holding it, exists)."""
    if not isinstance(value, str) or not os.path.isabs(os.path.expanduser(value)):
        return False
    path = os.path.expanduser(value)
    return os.path.exists(path) or os.path.isdir(os.path.dirname(path))


def _check_tokenizer(name: str, tokenizer: Any, directory: Path) -> None:
    """A tokenizer whose vocabulary files are gone can save only its settings: reload it and compare."""
    cls = type(tokenizer)
    try:
        reloaded = cls.from_pretrained(str(directory), local_files_only=True)
        same = (
            len(reloaded) == len(tokenizer)
            and reloaded(TOKENIZER_PROBE)["input_ids"] == tokenizer(TOKENIZER_PROBE)["input_ids"]
        )
        reason = "" if same else "the reloaded tokenizer splits text differently"
    except Exception as error:  # a missing vocabulary surfaces as OSError, TypeError, ValueError...
        reason = _reason(error)
    if reason:
        raise CaptureError(
            f"the tokenizer {name!r} ({type_name(tokenizer)}) did not save its vocabulary files ({reason}). Load it "
            "from a directory that has them (from_pretrained) or build a fast tokenizer (tokenizer.json), then "
            "export again",
            name,
        )


def _save_pipeline(name: str, pipeline: Any, directory: Path) -> Saved:
    from transformers.pipelines import check_task

    task = pipeline.task
    try:
        expected = check_task(task)[1]["impl"]
    except KeyError:
        expected = None
    if isinstance(expected, type):  # transformers 4 names the class itself, 5 its dotted path
        expected = f"{expected.__module__}.{expected.__qualname__}"
    if type_name(pipeline) != expected:
        raise CaptureError(
            f"{name!r} is a {type_name(pipeline)}, not transformers' own pipeline for the task {task!r}: build it "
            "in a 'load' cell (%%deploy load)",
            name,
        )
    arguments = {
        "task": pyliteral(task),
        "cls": pyliteral(_transformers_class(name, pipeline.model, f"the model of {name!r}")),
    }
    parts = {part: getattr(pipeline, part, None) for part in PIPELINE_PARTS}
    for part, value in parts.items():
        if value is not None:
            arguments[part] = pyliteral(_transformers_class(name, value, f"the {part} of {name!r}"))
    settings = _pipeline_settings(name, pipeline)
    if settings:
        arguments["settings"] = pyliteral(settings)
    _save_pretrained(name, pipeline, directory)
    if parts["tokenizer"] is not None:
        _check_tokenizer(name, parts["tokenizer"], directory)
    modules = _modules(pipeline.model).union(*(_modules(value) for value in parts.values() if value is not None))
    return Saved(directory.name, arguments=arguments, modules=modules)


def _pipeline_settings(name: str, pipeline: Any) -> dict[str, Any]:
    """The settings the pipeline was built with, as literals for the generated code."""
    settings = {}
    for key in PIPELINE_SETTINGS:
        value = getattr(pipeline, f"_{key}", None)
        if value in (None, {}):
            continue
        try:
            literal = ast.literal_eval(pyliteral(value)) == value
        except (TypeError, ValueError, SyntaxError):
            literal = False
        if not literal:
            raise CaptureError(
                f"the pipeline {name!r} was built with a setting that cannot be written as code ({key}: "
                f"{repr(value)[:80]}): pass plain values (numbers, strings, lists, dicts), or build it in a "
                "'load' cell",
                name,
            )
        settings[key] = value
    return settings


def _modules(value: Any) -> frozenset[str]:
    """What serving imports to rebuild the value (pinned into requirements.txt)."""
    modules = {"transformers"}
    torch = loaded("torch")
    if torch is not None and isinstance(value, torch.nn.Module):
        modules |= {"torch", "safetensors"}
    if getattr(value, "is_fast", False) or getattr(getattr(value, "tokenizer", None), "is_fast", False):
        modules.add("tokenizers")
    images = loaded("transformers.image_processing_base")
    image_processor = getattr(value, "image_processor", value)
    if images is not None and isinstance(image_processor, images.ImageProcessingMixin):
        # image processors use Pillow or torchvision, whichever the notebook had
        modules |= {module for module in ("PIL", "torchvision") if loaded(module) is not None}
    return frozenset(modules)


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__
