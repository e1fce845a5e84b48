"""Everything a report folder shows besides its rows: summary tables, plots, examples, HTML.

Computed from the Parquet parts alone, so it is the same after a single run, a resume, or a merge
of shards, and it can be redone with another radius or ``min_images`` without recomputing rows.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..io.atomic import atomic_path, write_text_atomic
from .concept_sections import SHAPLEY_COLUMNS, concept_sections
from .config import read_config
from .html import render_html, write_html
from .store import PartStore
from .summary import ReportSummary, accuracy_table_text, concept_table_text, split_rows, summarize

PLOTS_DIR = "plots"


def finalize(out: Path, radius_km: float = 750.0, min_images: int = 100, examples: int = 0,
             components=None, device: str | None = None, sections=()) -> ReportSummary:
    """Write the summary, plots and HTML page; ``sections`` (``geoxai.jobs.sections.Section``)
    are further tables, rendered after the report's own (and after ``concept_sections``: Shapley
    values, agreement, cues) in both ``summary.md`` and the page."""
    out = Path(out)
    config = read_config(out)
    store = PartStore(out)
    images = store.read_images()
    concepts = store.read_concepts(columns=["image_id", "concept", "ci", "valid"])
    summary = summarize(images, concepts, radius_km=radius_km, min_images=min_images, config=asdict(config))
    # Shapley values, their agreement with ci and the cue table, where the rows hold them
    summary.sections = concept_sections(out, images, store.read_concepts(columns=SHAPLEY_COLUMNS),
                                        config.explainer) + list(sections)

    with atomic_path(out / "summary.csv") as tmp:
        summary.concepts.assign(views=summary.views).to_csv(tmp, index=False)
    write_text_atomic(out / "summary.json", summary.to_json())
    markdown = (f"# Concept influence ({summary.views}-view predictions)\n\n"
                f"{concept_table_text(summary, markdown=True)}\n"
                f"# Accuracy ({summary.views}-view predictions)\n\n{accuracy_table_text(summary, markdown=True)}")
    markdown += "".join(f"\n{section.markdown()}" for section in summary.sections)
    write_text_atomic(out / "summary.md", markdown)

    plots = write_plots(out, summary, images, concepts)
    example_rows = []
    if examples > 0:
        from .examples import write_examples

        example_rows = write_examples(out, config, images, examples, components=components, device=device,
                                      radius_km=radius_km)
    countries, country_map = write_country_view(out, images, radius_km)
    write_html(out / "report.html", render_html(summary, plots, example_rows, countries=countries,
                                                country_map=country_map, sections=summary.sections))
    return summary


def write_plots(out: Path, summary: ReportSummary, images, concepts) -> dict[str, str]:
    from .plots import plot_distributions, plot_medians

    folder = out / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    plot_medians(summary.concepts, summary.radius_km, folder / "ci_median.png")
    ok = images[images["status"] == "ok"]
    rows = split_rows(concepts, ok.set_index("image_id")["gcd_km"] <= summary.radius_km)
    names = summary.concepts["concept"].tolist()
    plot_distributions(rows, names, folder / "ci_distribution.png")
    return {"Median ci, correct vs incorrect": f"{PLOTS_DIR}/ci_median.png",
            "ci distributions": f"{PLOTS_DIR}/ci_distribution.png"}


def write_country_view(out: Path, images, radius_km: float):
    """``countries.csv`` and ``plots/countries.png``; returns the table and the map's relative path."""
    from .countries import country_table, plot_country_map

    table = country_table(images, radius_km)
    if table.empty:
        return table, None
    with atomic_path(out / "countries.csv") as tmp:
        table.to_csv(tmp, index=False)
    (out / PLOTS_DIR).mkdir(exist_ok=True)
    plot_country_map(table, out / PLOTS_DIR / "countries.png")
    return table, f"{PLOTS_DIR}/countries.png"
