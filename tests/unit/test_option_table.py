"""The option table (``project.OPTIONS``) is the one list of deployment options: the ``manifests`` flags are
generated from it, and ``ManifestOptions`` validates exactly its manifest options, with the same types."""

from __future__ import annotations

import typing

from jupyter_deploy.cli import build_parser
from jupyter_deploy.cluster.options import ManifestOptions
from jupyter_deploy.project import MANIFEST_OPTIONS, OPTIONS, convert


def _base_type(annotation: object) -> object:
    """``int | None`` -> int, ``list[str]`` -> list."""
    origin = typing.get_origin(annotation)
    if origin is list:
        return list
    arguments = [item for item in typing.get_args(annotation) if item is not type(None)]
    return arguments[0] if arguments else annotation


def test_manifest_options_model_has_one_field_per_manifest_option_of_the_same_type() -> None:
    fields = {name: field for name, field in ManifestOptions.model_fields.items() if name != "name"}
    assert list(fields) == list(MANIFEST_OPTIONS)
    for name, field in fields.items():
        assert _base_type(field.annotation) is OPTIONS[name].kind, name


def test_manifests_flags_come_from_the_table_in_its_order() -> None:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.choices and "manifests" in action.choices)
    manifests = subparsers.choices["manifests"]
    flags = [action.option_strings[0] for action in manifests._actions if action.dest in OPTIONS]
    assert flags == ["--" + name.replace("_", "-") for name in MANIFEST_OPTIONS]
    for action in manifests._actions:
        if action.dest in MANIFEST_OPTIONS:
            assert action.help == MANIFEST_OPTIONS[action.dest].manifest_help


def test_every_option_converts_text_to_its_kind() -> None:
    samples = {int: "3", float: "2.5", bool: "true", str: "x", list: "a"}
    for name, option in OPTIONS.items():
        assert isinstance(convert(name, samples[option.kind]), option.kind), name
