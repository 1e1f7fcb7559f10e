"""What ``manifests NAME[@vN]`` writes, decided before anything is written: the version, its options, the
stock model KServe's runtime loads (``manifest_stock``) and the canary split (``manifest_canary``).
Every refusal happens in ``plan``, so a wrong option or an impossible canary leaves ``deploy/NAME/`` as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import OptionsError
from ..records import VersionInfo
from .options import ManifestOptions, manifest_options
from .stock import StockModel


@dataclass(frozen=True)
class Rollout:
    """What one InferenceService rolls out: ``info`` alone, or ``info`` as a canary beside ``stable``."""

    info: VersionInfo
    version_dir: Path
    stock: StockModel | None = None  # --runtime stock: what KServe's runtime loads of ``info``
    canary: int | None = None  # percent of the traffic on ``info``
    stable: VersionInfo | None = None  # the version keeping the rest (Standard mode writes it too)
    stable_stock: StockModel | None = None
    stable_storage_uri: str | None = None

    @property
    def split(self) -> bool:
        """Standard mode: both versions in the manifest (``spec.canary``)."""
        return self.canary is not None and self.stable_storage_uri is not None


def plan(
    root: str | Path, spec: str, cli_options: dict[str, Any] | None = None, promote: bool = False
) -> tuple[ManifestOptions, Rollout]:
    """Resolve ``NAME[@vN]`` and its options into what to write; every refusal happens here, before writing."""
    from ..project import resolve_options
    from ..versions.store import read_info, resolve, version_path
    from .canary import deployed, promoted_version, stable_version, standard_canary_problem
    from .layout import isvc_path
    from .stock import stock_model, storage_uri_fit_problem

    cli = dict(cli_options or {})
    name = spec.partition("@")[0]
    current = deployed(isvc_path(root, name))
    if promote:
        if "@" in spec or cli.get("canary") is not None:
            raise OptionsError(
                f"--promote takes NAME alone: it makes the canary written in deploy/{name}/ the only version"
            )
        spec = f"{name}@{promoted_version(name, current)}"
    info, version_dir = resolve(root, spec)
    merged = resolve_options(root, info.name, recorded=info.options, cli=cli)
    if promote and current is not None:
        merged.pop("canary", None)  # from deploy.yaml or the magic line: promotion ends the split
        merged["mode"] = cli.get("mode") or current.mode or merged.get("mode")
        if current.canary_storage_uri and not cli.get("storage_uri"):
            merged["storage_uri"] = current.canary_storage_uri
            merged["runtime"] = cli.get("runtime") or "stock"
    options = manifest_options(info.name, merged)
    stock = stock_model(version_dir, gpu=options.gpu > 0) if options.runtime == "stock" else None
    if stock is not None and options.storage_uri:
        problem = storage_uri_fit_problem(stock, options.storage_uri)
        if problem:
            raise OptionsError(f"--storage-uri: {problem}", "storage_uri")
    rollout = Rollout(info, version_dir, stock)
    if options.canary is None:
        return options, rollout
    stable = read_info(version_path(root, name, stable_version(name, info.version, options.canary, current)))
    assert current is not None
    if current.mode and current.mode != options.mode:
        raise OptionsError(
            f"--canary: deploy/{name}/ runs in {current.mode} mode and KServe cannot change an InferenceService's "
            f"mode: add --mode {current.mode}",
            "mode",
        )
    if options.mode == "Knative":
        return options, Rollout(info, version_dir, stock, options.canary, stable)
    problem = standard_canary_problem(name, options.runtime)
    if problem:
        raise OptionsError(problem, "canary")
    if current.stable_storage_uri is None:
        raise OptionsError(
            f"--canary: deploy/{name}/ serves {stable.version} from the predictor image; a Standard-mode canary needs "
            f"it on a stock runtime too: write it first (jupyter-deploy manifests {name}@{stable.version} "
            "--runtime stock --storage-uri URI)",
            "canary",
        )
    stable_dir = version_path(root, name, stable.version)
    stable_stock = stock_model(stable_dir, gpu=options.gpu > 0) if options.runtime == "stock" else None
    return options, Rollout(info, version_dir, stock, options.canary, stable, stable_stock, current.stable_storage_uri)
