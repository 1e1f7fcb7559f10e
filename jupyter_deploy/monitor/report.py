"""A drift result as a terminal table and as a self-contained HTML page (inline SVG charts, no plotting library)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..files import write_atomic

WIDTH, HEIGHT, PAD = 420, 150, 24
REFERENCE_COLOR, OBSERVED_COLOR = "#8da0cb", "#fc8d62"


def _figure(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def terminal_table(result: dict[str, Any]) -> str:
    """One line per feature, drifted ones marked, then the verdict."""
    features = result["features"]
    header = f"{'':2}{'FEATURE':24} {'TEST':5} {'PSI':>8} {'STAT':>8} {'P-VALUE':>9} {'ROWS':>7}  NOTE"
    lines = [_summary_line(result), "", header]
    for feature in features:
        mark = "! " if feature["drifted"] else "  "
        name = f"{feature['side']}.{feature['name']}"
        lines.append(
            f"{mark}{name[:24]:24} {feature['test']:5} {_figure(feature['psi']):>8} "
            f"{_figure(feature['statistic']):>8} {_figure(feature['p_value']):>9} {feature['observed_rows']:>7}  "
            f"{feature['note']}"
        )
    lines += ["", _verdict(result)]
    return "\n".join(lines)


def _summary_line(result: dict[str, Any]) -> str:
    versions = ", ".join(f"{version}: {count}" for version, count in sorted(result["logged_versions"].items()))
    return (
        f"{result['name']} {result['version']}: {result['requests']} logged requests ({result['rows']} rows; "
        f"versions {versions}) against the reference of {result['reference']['inputs']}"
    )


def _verdict(result: dict[str, Any]) -> str:
    drifted = [f"{f['side']}.{f['name']}" for f in result["features"] if f["drifted"]]
    if drifted:
        return (
            f"DRIFT: {len(drifted)} of {result['judged']} features reach PSI >= {result['threshold']}: "
            f"{', '.join(drifted[:8])}{' ...' if len(drifted) > 8 else ''}"
        )
    return f"no drift: no feature reaches PSI >= {result['threshold']} ({result['judged']} features judged)"


def write_html(result: dict[str, Any], path: str | Path) -> Path:
    """The report, written atomically (a temporary file renamed into place: never a half-written page)."""
    return write_atomic(path, html_report(result))


def html_report(result: dict[str, Any]) -> str:
    escape = html.escape
    rows, charts = [], []
    for feature in result["features"]:
        label = f"{feature['side']}.{feature['name']}"
        css = ' class="drift"' if feature["drifted"] else ""
        rows.append(
            f"<tr{css}><td>{escape(label)}</td><td>{feature['kind']}</td><td>{feature['test']}</td>"
            f"<td>{_figure(feature['psi'])}</td><td>{_figure(feature['statistic'])}</td>"
            f"<td>{_figure(feature['p_value'])}</td><td>{feature['reference_rows']}</td>"
            f"<td>{feature['observed_rows']}</td><td>{'yes' if feature['drifted'] else ''}</td>"
            f"<td>{escape(feature['note'])}</td></tr>"
        )
        if feature["chart"]:
            charts.append(
                f"<figure><figcaption>{escape(label)} (PSI {_figure(feature['psi'])})</figcaption>"
                f"{bar_chart(feature['chart'])}</figure>"
            )
    verdict_class = "drift" if result["drifted"] else "ok"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift report: {escape(result["name"])} {escape(result["version"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, td:last-child {{ text-align: left; }}
tr.drift td {{ background: #fde0d8; }}
p.drift {{ color: #b30000; font-weight: bold; }} p.ok {{ color: #1a7f37; font-weight: bold; }}
figure {{ display: inline-block; margin: 0.5em; }} figcaption {{ font-size: 0.85em; }}
.legend span {{ display: inline-block; width: 1em; height: 0.8em; margin: 0 0.3em 0 1em; }}
</style></head><body>
<h1>Drift report: {escape(result["name"])} {escape(result["version"])}</h1>
<p>{escape(_summary_line(result))}</p>
<p>Logged from {escape(str(result["first"]))} to {escape(str(result["last"]))} in {len(result["files"])} files.
Outputs compared with: {escape(str(result["reference"]["outputs"]))}.</p>
<p class="{verdict_class}">{escape(_verdict(result))}</p>
<table><tr><th>feature</th><th>kind</th><th>test</th><th>PSI</th><th>statistic</th><th>p-value</th>
<th>reference rows</th><th>logged rows</th><th>drift</th><th>note</th></tr>
{"".join(rows)}
</table>
<p class="legend"><span style="background:{REFERENCE_COLOR}"></span>reference
<span style="background:{OBSERVED_COLOR}"></span>logged</p>
{"".join(charts)}
<p><small>PSI over the reference's bins; KS against the reference's percentiles (numeric), chi-square over
its most frequent values (categorical). Threshold: PSI &gt;= {result["threshold"]}.</small></p>
</body></html>
"""


def bar_chart(chart: dict[str, Any]) -> str:
    """Reference and logged shares per bin, side by side, as an inline SVG."""
    labels, reference, observed = chart["labels"], chart["reference"], chart["observed"]
    count = max(len(labels), 1)
    top = max([*reference, *observed, 1e-9])
    slot = (WIDTH - 2 * PAD) / count
    bar = max(slot / 2 - 1, 0.5)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">']
    base = HEIGHT - PAD
    for index, label in enumerate(labels):
        x = PAD + index * slot
        for offset, share, color in ((0.0, reference[index], REFERENCE_COLOR), (bar, observed[index], OBSERVED_COLOR)):
            height = (base - PAD / 2) * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{base - height:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{color}"><title>{html.escape(str(label))}: {share:.3f}</title></rect>'
            )
    parts.append(f'<line x1="{PAD}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#555"/>')
    first, last = html.escape(str(labels[0])), html.escape(str(labels[-1]))
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="10">{first}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="10" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return "".join(parts)
