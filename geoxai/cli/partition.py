"""``geoxai partition``: build the partitionings (classes) of a geolocation model from coordinates."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import friendly_errors


def _ints(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers", param_hint=option) from None
    if not values or min(values) < 0:
        raise click.BadParameter(f"{text!r} needs non-negative integers", param_hint=option)
    return values


def read_coordinates(path: Path):
    """(lat, lon, ids) from a coordinates CSV (``geoxai.io.datasets.read_coordinates``)."""
    from ..io.datasets import read_coordinates as read

    return read(path)


@click.group("partition")
def command() -> None:
    """Build partitionings (the classes of a geolocation model) from photo coordinates."""


@command.command("build")
@click.option("--kind", type=click.Choice(["s2", "semp"]), required=True,
              help="s2: adaptive S2 cells (Müller-Budack et al. 2018); semp: semantic places (Theiner et al. 2022).")
@click.option("--coords", "coords", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV with columns lat,lon (or latitude/lng/long/longitude) and optionally id/image_id/img_id.")
@click.option("--out", "-O", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory; load it back with partitions=DIR.")
@click.option("--tau-min", default=None,
              help="s2: minimum photos per cell (default 50). semp: comma-separated minimum photos on a "
                   "location's path, one partitioning each (default 100,125,250).")
@click.option("--tau-max", default=None,
              help="s2 only: comma-separated maximum photos per cell (default 5000,2000,1000).")
@click.option("--tau-d", type=click.IntRange(min=1), default=None,
              help="semp only: drop locations in fewer photos (default 50).")
@click.option("--geocoder", default="offline", show_default=True,
              help="semp only: reverse geocoder (offline = GeoNames via reverse-geocoder; "
                   "nominatim = your own server).")
@click.option("--nominatim-url", default=None, help="URL of your own Nominatim server (for --geocoder nominatim).")
@click.option("--geocoder-cache", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="nominatim only: JSON-lines file caching the server's answers between runs.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar while geocoding.")
@friendly_errors
def build(kind, coords, out_dir, tau_min, tau_max, tau_d, geocoder, nominatim_url, geocoder_cache, progress):
    """Build partitionings from the coordinates in --coords and write them to --out.

    \b
    geoxai partition build --kind s2 --coords mp16.csv --out parts/s2
    geoxai partition build --kind semp --coords mp16.csv --out parts/semp --tau-min 100,125,250
    """
    if not coords.is_file():
        raise FileNotFoundError(f"{coords}: coordinates file does not exist")
    lat, lon, ids = read_coordinates(coords)
    if kind == "s2":
        from ..partitions.s2 import build_s2_partitionings, write_s2_partitionings

        if tau_d is not None:
            raise click.UsageError("--tau-d applies to --kind semp only")
        mins = _ints(tau_min, "--tau-min") or [50]
        if len(mins) != 1:
            raise click.BadParameter("s2 takes one --tau-min", param_hint="--tau-min")
        parts = build_s2_partitionings(lat, lon, tau_min=mins[0],
                                       tau_max=_ints(tau_max, "--tau-max") or (5000, 2000, 1000))
        write_s2_partitionings(parts, out_dir)
    else:
        from ..geocoders import load_geocoder
        from ..partitions.semp import build_semp_partitionings
        from ..partitions.semp_files import write_semp

        if tau_max is not None:
            raise click.UsageError("--tau-max applies to --kind s2 only")
        options = {}
        if geocoder == "nominatim":
            options = {"url": nominatim_url, "cache": geocoder_cache}
        elif nominatim_url or geocoder_cache:
            raise click.UsageError("--nominatim-url/--geocoder-cache need --geocoder nominatim")
        coder = load_geocoder(geocoder, **options)
        try:
            addresses = coder.addresses(lat, lon, progress=progress)
        except ConnectionError as exc:
            raise click.ClickException(str(exc)) from None
        result = build_semp_partitionings(lat, lon, addresses, tau_d=50 if tau_d is None else tau_d,
                                          tau_min=_ints(tau_min, "--tau-min") or (100, 125, 250))
        write_semp(result, out_dir, ids=ids, geocoder=geocoder)
        parts = result.partitionings
        used = int((result.targets[:, 0] >= 0).sum())
        click.echo(f"{used} of {len(lat)} coordinates have a class", err=True)
    for part in parts:
        click.echo(f"{part.name}: {len(part)} cells")
    click.echo(f"wrote {out_dir}")
