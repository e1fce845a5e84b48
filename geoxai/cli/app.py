"""``geoxai app``: the interactive explorer, served locally."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from ._common import friendly_errors


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
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep uploaded photos and results here (default: a temporary folder removed on exit).")
@friendly_errors
def command(host: str, port: int, workdir: Path | None) -> None:
    """Start the explorer: upload a photo, pick model/explainer/segmenter, see the prediction,
    the overlay, concept influence and the world map of country probabilities; click a country
    to explain it. Prints the address and opens nothing by itself; Ctrl+C stops it."""
    from ..app.engine import Explorer
    from ..app.server import bind, serve

    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if not _is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine can use the app", err=True)
    click.echo(f"geoxai app: serving on http://{shown}:{actual}/  (Ctrl+C to stop)", err=False)
    try:
        serve(sock, Explorer(workdir))
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles the signal itself
        pass
    finally:
        sock.close()
