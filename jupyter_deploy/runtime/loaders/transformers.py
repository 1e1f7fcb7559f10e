"""``.hf``: a ``save_pretrained`` directory, rebuilt with the transformers classes the generated code names.

Only classes that the ``transformers`` package itself exports are built (looked up by name there), always
from local files and never with remote code. A model comes back in evaluation mode on the serving device; a
pipeline is rebuilt with ``transformers.pipeline(task, ...)`` and given back its call settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# attributes of a pipeline (``_KEY``) that hold its call settings; anything else is refused
PIPELINE_SETTINGS = ("preprocess_params", "forward_params", "postprocess_params", "generate_kwargs", "batch_size")


def load(
    path: Path,
    device: Any = None,
    cls: str | None = None,
    task: str | None = None,
    tokenizer: str | None = None,
    feature_extractor: str | None = None,
    image_processor: str | None = None,
    processor: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    """The object saved at ``path``: an instance of ``transformers.<cls>``, or a pipeline for ``task``."""
    if cls is None:
        raise ValueError(f"{path.name}: the generated code must name the transformers class to rebuild (cls=...)")
    value = _from_pretrained(cls, path)
    if hasattr(value, "eval"):
        value = value.eval()
        if device is not None:
            value = value.to(device)
    if task is None:
        return value
    import transformers

    parts = {
        "tokenizer": tokenizer,
        "feature_extractor": feature_extractor,
        "image_processor": image_processor,
        "processor": processor,
    }
    loaded = {key: _from_pretrained(name, path) for key, name in parts.items() if name is not None}
    build: Any = transformers.pipeline  # its overloads want a literal task name
    pipeline = build(task, model=value, device=device, trust_remote_code=False, **loaded)
    for key, setting in (settings or {}).items():
        if key not in PIPELINE_SETTINGS:
            raise ValueError(f"{path.name}: unknown pipeline setting {key!r}")
        setattr(pipeline, f"_{key}", setting)
    return pipeline


def transformers_class(name: str) -> Any:
    """``transformers.<name>``, refused unless it is one of the package's own classes."""
    import transformers

    found = getattr(transformers, name, None) if name.isidentifier() else None
    own = isinstance(found, type) and found.__module__.startswith("transformers.")
    if not own or not hasattr(found, "from_pretrained"):
        raise ValueError(f"{name!r} is not a class of the transformers package")
    return found


def _from_pretrained(name: str, path: Path) -> Any:
    return transformers_class(name).from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
