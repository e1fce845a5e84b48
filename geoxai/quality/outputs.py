"""The summary of a ``geoxai quality`` folder: per-explainer means with bootstrap 95 % intervals,
sanity Spearman per stage, stability; as CSV/JSON/Markdown, plots of the mean curves, and an
offline HTML page. Computed from the Parquet parts alone (same after a resume or across shards)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.atomic import atomic_path, write_text_atomic
from ..jobs.sections import Section, markdown_table
from ..jobs.sections import html_table as _html_table
from .sanity import sanity_verdict
from .store import QualityStore

#: the columns of the summary table, in order: (column, label, better)
HEADLINE = [
    ("deletion_most_auc_norm", "deletion AUC", "lower"),
    ("insertion_most_auc_norm", "insertion AUC", "higher"),
    ("deletion_least_auc_norm", "deletion AUC (least first)", "higher"),
    ("insertion_least_auc_norm", "insertion AUC (least first)", "lower"),
    ("deletion_most_km_auc", "deletion km-AUC", "higher"),
    ("deletion_most_mass_pred_auc", "deletion mass-AUC (clean pred.)", "lower"),
    ("deletion_most_mass_truth_auc", "deletion mass-AUC (truth)", "lower"),
    ("stability_spearman", "seed Spearman", "higher"),
    ("stability_topk", "seed top-k overlap", "higher"),
    ("stability_ci_difference", "seed ci rel. difference", "lower"),
    ("cue_recall_ratio", "cue recall (mass on cues / equal area)", "higher"),
]
BOOTSTRAP = 1000


def bootstrap_interval(values, resamples: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(mean, 2.5 %, 97.5 %) of the mean by the percentile bootstrap over images (seeded)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def explainer_folders(out: Path) -> list[Path]:
    return sorted(p.parent for p in Path(out).glob("*/explainer.json"))


def summarize(out: Path) -> dict:
    """{explainer folder: {"images": n, "failed": n, metric: [mean, lo, hi], "sanity": {stage: ...}}}."""
    result = {}
    for folder in explainer_folders(out):
        images = QualityStore(folder).read_images()
        ok = images[images.status == "ok"]
        entry = {"explainer": json.loads((folder / "explainer.json").read_text()),
                 "images": int(len(ok)), "failed": int((images.status == "failed").sum())}
        for column, _, _ in HEADLINE:
            if column in ok and ok[column].notna().any():
                entry[column] = list(bootstrap_interval(ok[column]))
        sanity = [json.loads(s) for s in ok["sanity"].dropna()] if "sanity" in ok else []
        if sanity:
            stages = sanity[0]["stages"]
            rho = np.array([s["spearman"] for s in sanity if s["stages"] == stages])
            sim = np.array([s["ssim"] for s in sanity if s["stages"] == stages])
            entry["sanity"] = {st: {"spearman": bootstrap_interval(rho[:, i]), "ssim": bootstrap_interval(sim[:, i])}
                               for i, st in enumerate(stages)}
            entry["sanity_passed"] = bool(np.nanmean(np.abs(rho[:, -1])) < 0.5)
            entry["sanity_verdict"] = sanity_verdict(rho.T)
        result[folder.name] = entry
    return result


def _cell(triple) -> str:
    if triple is None or not np.isfinite(triple[0]):
        return "–"
    return f"{triple[0]:.3f} [{triple[1]:.3f}, {triple[2]:.3f}]"


def table_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    present = [(c, label, better) for c, label, better in HEADLINE if any(c in e for e in summary.values())]
    head = ["explainer", "images"] + [f"{label} ({better} is better)" for _, label, better in present] + \
        ["sanity: Spearman, classifier random", "sanity: Spearman, all random", "sanity"]
    body = []
    for name, e in summary.items():
        stages = list(e.get("sanity", {}).values())
        first = stages[0]["spearman"] if stages else None
        last = stages[-1]["spearman"] if stages else None
        body.append([name, str(e["images"])] + [_cell(e.get(c)) for c, _, _ in present] +
                    [_cell(first), _cell(last), e.get("sanity_verdict", "–")])
    return head, body


def sanity_markdown(summary: dict) -> str:
    parts = []
    for name, e in summary.items():
        if not e.get("sanity"):
            continue
        head = ["stage (randomised down to)", "Spearman", "SSIM"]
        body = [[st, _cell(v["spearman"]), _cell(v["ssim"])] for st, v in e["sanity"].items()]
        parts.append(f"### {name}\n\n{markdown_table(head, body)}")
    return "\n".join(parts)


def finalize(out: Path) -> dict:
    out = Path(out)
    summary = summarize(out)
    head, body = table_rows(summary)
    flat = []
    for name, e in summary.items():
        row = {"explainer": name, "images": e["images"], "failed": e["failed"]}
        for c, _, _ in HEADLINE:
            if c in e:
                row[c], row[c + "_lo"], row[c + "_hi"] = e[c]
        for st, v in e.get("sanity", {}).items():
            row[f"sanity_spearman_{st}"] = v["spearman"][0]
        row["sanity_passed"] = e.get("sanity_passed")
        row["sanity_verdict"] = e.get("sanity_verdict")
        flat.append(row)
    with atomic_path(out / "summary.csv") as tmp:
        pd.DataFrame(flat).to_csv(tmp, index=False)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=float))
    section = Section("Explanation quality", "Means over images with bootstrap 95 % intervals. AUCs are normalised "
                      "by the clean score.", head, body,
                      extra_markdown=f"## Sanity check per stage\n\n{sanity_markdown(summary)}")
    write_text_atomic(out / "summary.md", section.markdown())
    plots = write_plots(out)
    write_text_atomic(out / "quality.html", render_html(head, body, summary, plots, random_note=_random_note(out)))
    return summary


def mean_curves(out: Path) -> pd.DataFrame:
    frames = []
    for folder in explainer_folders(out):
        curves = QualityStore(folder).read_concepts()
        if len(curves):
            curves["explainer"] = folder.name
            frames.append(curves)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


#: curves whose values cannot leave a range: their 95 % bands are clipped to it (no band below 0 km)
CURVE_RANGES = {"km": (0.0, None), "mass_pred": (0.0, 1.0)}


def band_limits(column: str, mean, half_width):
    """(lower, upper) of a curve's band, clipped to the range the quantity can take."""
    low, high = CURVE_RANGES.get(column, (None, None))
    return (mean - half_width).clip(lower=low, upper=high), (mean + half_width).clip(lower=low, upper=high)


def write_plots(out: Path) -> dict[str, str]:
    from ..report.plots import _pyplot, _save

    curves = mean_curves(out)
    if curves.empty:
        return {}
    plt = _pyplot()
    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    plots = {}
    panels = [("score", "target score"), ("km", "km from the clean prediction"), ("mass_pred", "mass near clean pred.")]
    for kind in ("deletion", "insertion"):
        sub = curves[(curves.kind == kind) & (curves.order == "most")]
        if sub.empty:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
        for ax, (column, label) in zip(axes, panels):
            for name, g in sub.groupby("explainer"):
                stats = g.groupby("fraction")[column].agg(["mean", "sem"]).reset_index()
                lower, upper = band_limits(column, stats["mean"], 1.96 * stats["sem"].fillna(0))
                ax.plot(stats["fraction"], stats["mean"], label=name)
                ax.fill_between(stats["fraction"], lower, upper, alpha=0.2)
            ax.set_xlabel("fraction removed" if kind == "deletion" else "fraction inserted")
            ax.set_ylabel(label)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{kind}, most relevant first (mean, 95 % band)")
        path = _save(fig, folder / f"{kind}.png")
        plt.close(fig)
        plots[f"{kind.capitalize()} curves"] = f"plots/{path.name}"
    return plots


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f2f2f2}
code{background:#f6f6f6;padding:2px 4px}
img{max-width:100%}
.random{color:#b00020;font-weight:bold;border:2px solid #b00020;padding:6px 10px}
.note{color:#555;font-size:13px}
"""


def _random_note(out: Path) -> str:
    """The random-weights mark for the folder's model/segmenter (from its config.json), or "": the
    report page's note (``report.html.random_weights_note``), so both pages word it alike."""
    from ..report.html import random_weights_note

    try:
        config = json.loads((Path(out) / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    return random_weights_note(config) if isinstance(config, dict) else ""


#: what the sanity verdicts mean (quality.sanity.sanity_verdict), shown under the table
SANITY_NOTE = ("Sanity (model-parameter randomisation, Adebayo et al. 2018): <b>pass</b> = the map already "
               "changes (Spearman below 0.5 against the trained model's map) once the classifier is randomised; "
               "<b>partial</b> = it changes only by the end of the cascade, once every stage down to the input is "
               "random (the map depends on the network's weights, but little on its classifier); <b>fail</b> = it "
               "never changes that much (the map does not depend on what the model learned).")


def render_html(head, body, summary: dict, plots: dict[str, str], random_note: str = "") -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>geoxai explanation quality</title>",
             f"<style>{STYLE}</style></head><body><h1>Explanation quality</h1>",
             f"<p class='random'>{e(random_note)}: the scores test the machinery, not the model.</p>"
             if random_note else "",
             "<p>Means over images with bootstrap 95 % intervals; AUCs normalised by the clean score. "
             "Baselines: smooth random maps (chance level) and a centre-bias map.</p>",
             _html_table(head, body), f"<p class='note'>{SANITY_NOTE}</p>"]
    for name, entry in summary.items():
        if entry.get("sanity"):
            rows = [[st, _cell(v["spearman"]), _cell(v["ssim"])] for st, v in entry["sanity"].items()]
            table = _html_table(["randomised down to", "Spearman", "SSIM"], rows)
            parts.append(f"<h3>Sanity check: {e(name)}</h3>" + table)
    for name, path in plots.items():
        parts.append(f"<h3>{e(name)}</h3><img src='{e(path)}' alt='{e(name)}'>")
    parts.append("<p>Rows: <code>*/images/*.parquet</code>, curves: <code>*/curves/*.parquet</code>; tables: "
                 "<a href='summary.csv'>summary.csv</a>, <a href='summary.md'>summary.md</a>, "
                 "<a href='summary.json'>summary.json</a>.</p></body></html>")
    return "\n".join(parts)
