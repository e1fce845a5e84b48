"""``geoxai samples``: the sample photos shipped inside geoxai (offline try-it runs, docs, tutorial)."""
from __future__ import annotations

import click

from ._common import friendly_errors


@click.command("samples")
@click.argument("names", nargs=-1)
@friendly_errors
def command(names):
    """Print the path of each sample photo NAME (all of them without NAMES), one per line.

    The photos are public domain or CC0 (see geoxai/data/samples/README.md); use them in a command
    with e.g. geoxai explain -m imagenet-lite0 "$(geoxai samples chelsea)" --out out/.
    """
    from ..data import sample, samples

    paths = [sample(name) for name in names] if names else list(samples().values())
    for path in paths:
        click.echo(str(path))
