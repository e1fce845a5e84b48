"""A self-contained HTML page for a report: tables inline, images linked relatively, no CDN."""
from __future__ import annotations

import html
import json
import math
from pathlib import Path

from .summary import ReportSummary

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f2f2f2}
code,pre{background:#f6f6f6;padding:2px 4px}
img{max-width:100%}
.examples{display:flex;flex-wrap:wrap;gap:12px}
.examples figure{margin:0;max-width:520px}
"""


def render_html(summary: ReportSummary, plots: dict[str, str], examples: list[dict]) -> str:
    """``plots``: name -> relative PNG path; ``examples``: dicts with ``image_id``, ``figure``
    (relative path) and a ``caption``."""
    e = html.escape
    r = f"{summary.radius_km:g}"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>geoxai concept influence report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Concept influence report</h1>",
        f"<p>{_config_line(summary.config)}</p>",
        f"<p>{summary.counts['images']} images: {summary.counts['ok']} explained, "
        f"{summary.counts['failed']} failed; {summary.counts['correct']} correct "
        f"(GCD &le; {r} km), {summary.counts['incorrect']} incorrect.</p>",
        f"<h2>Geolocation accuracy ({e(summary.views)}-view predictions)</h2>",
        _table([f"{k:g} km" for k in summary.accuracy],
               [[_pct(v) for v in summary.accuracy.values()]]),
        f"<h2>Concept influence (concepts with at least {summary.min_images} images in a split)</h2>",
    ]
    head = ["concept", f"images (GCD &le; {r} km)", "ci median", "ci mean",
            f"images (GCD &gt; {r} km)", "ci median", "ci mean"]
    body = [[e(row.concept), str(row.correct_images), _num(row.correct_ci_median), _num(row.correct_ci_mean),
             str(row.incorrect_images), _num(row.incorrect_ci_median), _num(row.incorrect_ci_mean)]
            for row in summary.concepts.itertuples(index=False)]
    parts.append(_table(head, body, escape_head=False) if body else
                 f"<p>No concept has {summary.min_images} or more images in a split.</p>")
    for name, path in plots.items():
        parts.append(f"<h3>{e(name)}</h3><img src='{e(path)}' alt='{e(name)}'>")
    if examples:
        parts.append("<h2>Examples</h2><div class='examples'>")
        for ex in examples:
            parts.append(f"<figure><a href='{e(ex['figure'])}'><img src='{e(ex['figure'])}' "
                         f"alt='{e(ex['image_id'])}'></a><figcaption>{e(ex['caption'])}</figcaption></figure>")
        parts.append("</div>")
    if len(summary.failed):
        parts.append(f"<h2>Failed images ({len(summary.failed)})</h2>")
        parts.append(_table(["image", "path", "reason"],
                            [[e(str(x)) for x in row] for row in summary.failed.itertuples(index=False)]))
    parts.append("<p>Raw rows: <code>images/*.parquet</code>, <code>concepts/*.parquet</code>; "
                 "tables: <a href='summary.csv'>summary.csv</a>, <a href='summary.md'>summary.md</a>, "
                 "<a href='summary.json'>summary.json</a>.</p></body></html>")
    return "\n".join(parts)


def _config_line(config: dict) -> str:
    if not config:
        return ""
    keys = ("model", "model_options", "weights", "explainer", "explainer_options", "segmenter",
            "segmenter_options", "k", "min_size", "dilation", "seed", "views", "data")
    items = [f"<b>{k}</b>: {html.escape(json.dumps(config[k]) if isinstance(config[k], dict) else str(config[k]))}"
             for k in keys if config.get(k) not in (None, {}, "")]
    return " &middot; ".join(items)


def _table(head: list[str], body: list[list[str]], escape_head: bool = True) -> str:
    th = "".join(f"<th>{html.escape(h) if escape_head else h}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table>"


def _num(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _pct(v: float) -> str:
    return "" if math.isnan(v) else f"{100 * v:.1f} %"


def write_html(path: Path, text: str) -> None:
    from ..io.atomic import write_text_atomic

    write_text_atomic(path, text)
