"""``geoxai weights``: the official weight files, the cache, downloads."""
from __future__ import annotations

import click

from ._common import friendly_errors


@click.group("weights")
def command():
    """List, download and locate official weight files (cache: $GEOXAI_HOME/weights)."""


@command.command("list")
@friendly_errors
def list_weights():
    """List registered weight files and whether they are cached."""
    from .. import weights

    files = weights.registered()
    if not files:
        click.echo("no weight files registered")
    for name, wf in files.items():
        state = "cached" if weights.cached_path(wf).exists() else "not downloaded"
        checksum = "sha256" if wf.sha256 else "no published checksum"
        click.echo(f"{name}  [{state}; {checksum}]  {wf.description}\n    {wf.url}")


@command.command("download")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download again even if cached.")
@friendly_errors
def download(names, force):
    """Download NAMES into the cache, verifying their checksums."""
    from .. import weights

    for name in names:
        click.echo(str(weights.download(name, force=force)))


@command.command("path")
@click.argument("name")
@friendly_errors
def path(name):
    """Print where weight file NAME is (or would be) cached."""
    from .. import weights

    click.echo(str(weights.cached_path(weights.get(name))))


@command.command("install")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@friendly_errors
def install(name, file):
    """Copy a FILE downloaded elsewhere into the cache as weight file NAME, after checking it."""
    from .. import weights

    click.echo(str(weights.install_local(name, file)))
