"""``geoxai plugins``: what is installed and where it comes from."""
from __future__ import annotations

import json
import warnings

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List the models, explainers, segmenters, geocoders and job engines and the distribution
    each comes from."""
    from ..plugins import PluginWarning, available

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        table = available()
    for w in caught:
        if issubclass(w.category, PluginWarning):
            click.echo(f"warning: {w.message}", err=True)
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    for kind, rows in table.items():
        click.echo(f"{kind}:")
        if not rows:
            click.echo("  (none)")
        width = max([len(r["name"]) for r in rows] + [4])
        dwidth = max([len(r["distribution"]) for r in rows] + [4])
        for r in rows:
            click.echo(f"  {r['name']:<{width}}  {r['distribution']:<{dwidth}}  {r['description']}")
