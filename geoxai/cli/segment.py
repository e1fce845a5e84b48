"""``geoxai segment``: concept label maps and concept area fractions for photos."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import friendly_errors, plugin_options, readable_images, unique_stems


@click.command("segment")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--segmenter", "segmenter_name", default="ade20k-hrnet", show_default=True,
              help="Registered segmenter (see `geoxai plugins`).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Local weights: for ade20k-hrnet a folder with encoder_epoch_30.pth and "
                   "decoder_epoch_30.pth, for smp a state_dict file.")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Segmenter option, repeatable (e.g. -o scales=[300,450] -o device=cuda).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <image>.png (paletted label map) and <image>.json (area fractions).")
@friendly_errors
def command(images: tuple[Path, ...], segmenter_name: str, weights: Path | None, options: tuple[str, ...],
            out_dir: Path) -> None:
    """Segment IMAGE files (or folders of images) into ADE20k concepts.

    For each image, writes a label map as a paletted PNG (pixel value = concept index, colours =
    ADE20k palette) and a JSON object mapping each concept present to the fraction of the image
    it covers, largest first. Images that cannot be read are reported and skipped; the command
    then exits with status 1.
    """
    import torch

    from ..io.images import list_images
    from ..plugins import load_segmenter
    from ..segmenters.label_maps import concept_fractions, save_fractions, save_label_map

    opts = plugin_options("segmenter", segmenter_name, options)
    if weights is not None:
        opts["weights"] = str(weights)
    paths = list_images(images)
    if not paths:
        raise click.ClickException("no images found in " + ", ".join(map(str, images)))
    segmenter = load_segmenter(segmenter_name, **opts)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures: list = []
    stems = unique_stems(paths, separator="-")
    for index, path, image in readable_images(paths, failures):
        stem = stems[index]
        pixels = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).contiguous()
        labels = segmenter.segment(pixels)[0]
        save_label_map(out_dir / f"{stem}.png", labels, len(segmenter.concepts))
        fractions = concept_fractions(labels, segmenter.concepts)
        save_fractions(out_dir / f"{stem}.json", fractions)
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(fractions.items())[:3])
        click.echo(f"{path}: {top}")
    if failures:
        click.echo(f"{len(failures)} of {len(paths)} images failed", err=True)
        raise SystemExit(1)
