"""A self-contained HTML page for a report, rendered from ``templates/report.html.j2`` (jinja2,
autoescaped): tables inline, images linked relatively, no CDN."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from .summary import ReportSummary

CONFIG_KEYS = ("model", "model_options", "weights", "explainer", "explainer_options", "segmenter",
               "segmenter_options", "k", "min_size", "dilation", "seed", "views", "shapley", "data")


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("geoxai.report", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True), keep_trailing_newline=True)
    return env.get_template("report.html.j2")


def render_html(summary: ReportSummary, plots: dict[str, str], examples: list[dict], countries=None,
                country_map: str | None = None, sections=()) -> str:
    """``plots``: name -> relative PNG path; ``examples``: dicts with ``image_id``, ``figure``
    (relative path) and a ``caption``; ``countries``: the table of ``report.countries.country_table``
    (None or empty: no country view); ``country_map``: relative path of its map."""
    concepts = [{
        "concept": row.concept, "correct_images": row.correct_images, "incorrect_images": row.incorrect_images,
        "correct_ci_median": _num(row.correct_ci_median), "correct_ci_mean": _num(row.correct_ci_mean),
        "incorrect_ci_median": _num(row.incorrect_ci_median), "incorrect_ci_mean": _num(row.incorrect_ci_mean),
    } for row in summary.concepts.itertuples(index=False)]
    country_rows = []
    if countries is not None and len(countries):
        most = max(int(countries["images"].max()), 1)
        for row in countries.itertuples(index=False):
            country_rows.append({
                "name": row.name, "code": row.code, "images": int(row.images), "share": _pct(row.share),
                "correct": int(row.correct), "incorrect": int(row.incorrect), "right_country": int(row.right_country),
                "correct_px": round(160 * row.correct / most), "incorrect_px": round(160 * row.incorrect / most),
            })
    return _template().render(
        random_weights=random_weights_note(summary.config),
        config_items=_config_items(summary.config), counts=summary.counts, radius=f"{summary.radius_km:g}",
        min_images=summary.min_images, views=summary.views,
        accuracy=[{"radius": f"{k:g}", "value": _pct(v)} for k, v in summary.accuracy.items()],
        concepts=concepts, plots=list(plots.items()), countries=country_rows, country_map=country_map,
        examples=examples, sections=list(sections),
        failed=[[str(x) for x in row] for row in summary.failed.itertuples(index=False)],
    )


def random_weights_note(config: dict | None) -> str:
    """"random weights: labels mean nothing (model 'tiny', segmenter 'tiny')" where the report's
    model or segmenter has random weights, else ""."""
    from ..plugins import RANDOM_WEIGHTS_MARK, random_parts

    config = config or {}
    parts = random_parts(config.get("model"), config.get("model_options"), config.get("segmenter"),
                         config.get("segmenter_options"))
    return f"{RANDOM_WEIGHTS_MARK} ({', '.join(parts)})" if parts else ""


def _config_items(config: dict) -> list[tuple[str, str]]:
    return [(k, json.dumps(config[k]) if isinstance(config[k], dict) else str(config[k]))
            for k in CONFIG_KEYS if config and config.get(k) not in (None, {}, "") and config.get(k) is not False]


def _num(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _pct(v: float) -> str:
    return "" if v is None or math.isnan(v) else f"{100 * v:.1f} %"


def write_html(path: Path, text: str) -> None:
    from ..io.atomic import write_text_atomic

    write_text_atomic(path, text)
