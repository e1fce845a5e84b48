"""``geoxai segment``: concept label maps and concept area fractions for photos."""
from __future__ import annotations

from pathlib import Path

import click

from ..naming import unique_stems
from . import _options as opts
from ._common import announce, collect_images, friendly_errors, plugin_options, readable_images


@click.command("segment")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@opts.segmenter_options(default="ade20k-hrnet", primary=True, help="Segmenter name (see `geoxai plugins`).",
                        combine=True)
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Local weights: for ade20k-hrnet a folder with encoder_epoch_30.pth and "
                   "decoder_epoch_30.pth, for smp a state_dict file.")
@opts.out_option(required=True, help="Folder for <image>.png (paletted label map) and <image>.json (area fractions).")
@opts.quiet_option("No progress and no start-up message on stderr.")
@friendly_errors
def command(images: tuple[Path, ...], segmenter_name: str, segmenter_opts: tuple[str, ...], weights: Path | None,
            out_dir: Path, quiet: bool) -> None:
    """Segment IMAGE files (or folders of images) into concepts (ADE20k by default).

    For each image, writes a label map as a paletted PNG (pixel value = concept index, colours =
    ADE20k palette, 255 = no concept) and a JSON object mapping each concept present to the
    fraction of the image it covers, largest first (overlapping masks: each concept's own mask).
    A segmenter that reads something (text) also writes <image>_regions.json: per region the
    string, confidence, polygon and script. Repeat -s (or join with +) to combine segmenters.
    Images that cannot be read are reported and skipped; the command then exits with status 1.
    Progress (done/total images) goes to stderr unless --quiet.
    """
    import torch

    from ..io.images import display_path
    from ..plugins import load_segmenter
    from ..progress import Progress
    from ..segmenters.label_maps import concept_fractions, save_fractions, save_label_map

    paths = collect_images(images)
    options = plugin_options("segmenter", segmenter_name, segmenter_opts)
    if weights is not None:
        options["weights"] = str(weights)
    announce("segmenter", segmenter_name, quiet)
    segmenter = load_segmenter(segmenter_name, **options)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures: list = []
    stems = unique_stems(paths, separator="-")
    progress = Progress(len(paths), "segment", enabled=not quiet, bare_counts=True)
    for index, path, image in readable_images(paths, failures, progress):
        stem = stems[index]
        pixels = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).contiguous()
        if segmenter.overlapping_masks:  # each concept's own mask; the PNG draws the last one on top
            masks = segmenter.segment_masks(pixels)
            labels, fractions = masks.labels()[0], masks.fractions(0)
            if masks.regions is not None:
                save_fractions(out_dir / f"{stem}_regions.json", {"segmenter": segmenter.name,
                                                                 "regions": masks.regions[0]})
        else:
            labels = segmenter.segment(pixels)[0]
            fractions = concept_fractions(labels, segmenter.concepts)
        save_label_map(out_dir / f"{stem}.png", labels, len(segmenter.concepts))
        save_fractions(out_dir / f"{stem}.json", fractions)
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(fractions.items())[:3])
        click.echo(f"{display_path(path)}: {top}")
    if failures:
        click.echo(f"{len(failures)} of {len(paths)} images failed", err=True)
        raise SystemExit(1)
