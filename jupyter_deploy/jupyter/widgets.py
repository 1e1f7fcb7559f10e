"""The ipywidgets card ``%deploy export`` shows: version, files, parity, and what changed."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..records import ExportResult


def card_html(result: ExportResult) -> str:
    """The card's HTML (also what the text fallback summarises)."""
    info = result.info
    state = "new version" if result.created else "unchanged: same content as"
    parity = info.parity
    parity_text = (
        "not run"
        if parity is None
        else f"{parity.status}"
        + (f" (max |diff| {parity.max_abs_diff:.2g})" if parity.max_abs_diff is not None else "")
        + (f": {html.escape(parity.detail)}" if parity.detail else "")
    )
    colour = {"passed": "#2e7d32", "failed": "#c62828"}.get(parity.status if parity else "", "#757575")
    changed = ", ".join(result.changed_files) if result.changed_files else ("-" if info.parent else "first version")
    files = "".join(f"<li><code>{html.escape(name)}</code></li>" for name in info.files)
    return (
        f"<div style='border:1px solid #ccc;border-radius:6px;padding:8px 12px;font-family:sans-serif'>"
        f"<b>{html.escape(info.name)}</b> {state} <b>{info.version}</b> "
        f"<span style='color:#757575'>({html.escape(result.path)})</span><br>"
        f"parity: <span style='color:{colour}'>{parity_text}</span><br>"
        f"parent: {info.parent or '-'} &middot; changed: {html.escape(changed)}<br>"
        f"<details><summary>{len(info.files)} files</summary><ul>{files}</ul></details></div>"
    )


def version_card(result: ExportResult, root: Path) -> Any:
    """An ipywidgets VBox: the summary, and the diff against the parent in a collapsed accordion."""
    import ipywidgets as widgets

    from ..versions.store import export_summary

    children: list[Any] = [widgets.HTML(card_html(result))]
    info = result.info
    if result.created and info.parent:
        from ..versions.store import diff_versions

        diff = diff_versions(root, info.name, info.parent, info.version)
        text = widgets.HTML(f"<pre style='font-size:11px'>{html.escape(diff or 'no text changes')}</pre>")
        accordion = widgets.Accordion(children=[text])
        accordion.set_title(0, f"diff {info.parent} -> {info.version}")
        accordion.selected_index = None
        children.append(accordion)
    return Card(widgets.VBox(children), export_summary(result))


class Card:
    """A widget whose plain-text form is a one-line summary (for consoles, logs and nbconvert)."""

    def __init__(self, widget: Any, text: str) -> None:
        self.widget = widget
        self.text = text

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = self.text
        return bundle

    def __repr__(self) -> str:
        return self.text
