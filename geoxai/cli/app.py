"""``geoxai app``: the interactive explorer, served locally."""
from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import click

from ._common import friendly_errors, plugin_options

MB = 1024 * 1024


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("app")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address exposes the app to the network.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (repeatable); by default only the bound address, "
                   "localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep uploaded photos and results here (default: a temporary folder removed on exit).")
@click.option("--model", "-m", default=None, metavar="NAME",
              help="The model the page starts on (default: imagenet-lite0 where it loads, else tiny).")
@click.option("--weights", default=None, metavar="PATH",
              help="Weights of --model (a path or hf://...): set here, never from the page.")
@click.option("--model-option", "model_opts", multiple=True, metavar="KEY=VALUE",
              help="Option of --model (repeatable), set on the server; the page cannot set path options.")
@click.option("--max-upload", default=20, show_default=True, type=click.IntRange(1, 1024), metavar="MB",
              help="Largest photo accepted, in MB (413 beyond it).")
@click.option("--max-storage", default=200, show_default=True, type=click.IntRange(1, 100_000), metavar="MB",
              help="Photos and results kept per client, in MB (the least recently used go first).")
@click.option("--upload-ttl", default=60, show_default=True, type=click.IntRange(1, 10_000_000), metavar="MIN",
              help="Remove a photo and its results after this many minutes unused.")
@friendly_errors
def command(host: str, port: int, allow_hosts: tuple[str, ...], workdir: Path | None, model: str | None,
            weights: str | None, model_opts: tuple[str, ...], max_upload: int, max_storage: int,
            upload_ttl: int) -> None:
    """Start the explorer: upload a photo, pick model/explainer/segmenter, see the prediction,
    the overlay, concept influence and the world map of country probabilities; click a country
    to explain it. Prints the address and opens nothing by itself; Ctrl+C stops it.
    docs/security.md lists what the app refuses from web pages and its limits."""
    from ..app.catalog import Catalog
    from ..app.engine import Explorer
    from ..app.server import bind, serve

    if (weights or model_opts) and not model:
        raise click.UsageError("--weights and --model-option set the options of --model; name it with --model")
    preset = plugin_options("model", model, model_opts) if model else {}
    if weights is not None:
        preset["weights"] = weights
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if not _is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine can use the app", err=True)
    explorer = Explorer(workdir, catalog=Catalog(model, preset), max_storage=max_storage * MB,
                        ttl_s=upload_ttl * 60.0)
    click.echo(f"geoxai app: serving on http://{shown}:{actual}/  (Ctrl+C to stop)", err=False)
    status = 0
    try:
        serve(sock, explorer, host=host, allow_hosts=allow_hosts, max_upload=max_upload * MB)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it handled, after shutting down
        status = 130
    finally:
        explorer.close()  # again, in case the server stopped without its shutdown (idempotent)
        sock.close()
    # The work folder is gone and nothing is left to save: end now. A job still inside a model is
    # abandoned (its daemon thread ends with the process), and the interpreter's own tear-down of
    # torch and the plugins' modules (seconds of garbage collection) is skipped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
