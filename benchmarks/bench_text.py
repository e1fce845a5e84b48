"""Seconds per photo of the ``text`` segmenter (rapidocr PP-OCR ONNX models) on CPU.

    PYTHONPATH=. python benchmarks/bench_text.py [--threads 1] [--rounds 3]

Photos: four skimage photos resized to 640 x 480, two of them with a drawn street sign. Settings
compared: the segmenter's defaults (detection at the photo's own size up to det_limit=960, no
direction classifier), with the direction classifier, and rapidocr's own defaults (detection
input upscaled so its short side is at least 736). ``--threads`` is onnxruntime's intra-op thread
count (and torch's). The settings are timed by the one harness (``harness.time_rotating``): a
warm-up of each, then ``--rounds`` rounds in rotating order; medians of CPU and wall seconds per
photo. CPU seconds are the measure that does not depend on how busy the machine is.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from harness import describe_machine, rotation_table, time_rotating, timing_arguments
from PIL import Image, ImageDraw, ImageFont
from skimage import data


def photos() -> torch.Tensor:
    out = []
    for i, name in enumerate(["rocket", "astronaut", "coffee", "chelsea"]):
        photo = Image.fromarray(getattr(data, name)()).convert("RGB").resize((640, 480))
        if i % 2 == 0:
            draw = ImageDraw.Draw(photo)
            draw.rectangle([300, 40, 600, 110], fill=(20, 90, 40))
            draw.text((315, 52), "STRASSE 12", fill=(255, 255, 255), font=ImageFont.load_default(size=36))
        out.append(torch.from_numpy(np.array(photo)).permute(2, 0, 1))
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, choices=range(1, 5), default=4, help="how many of the 4 photos")
    timing_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from geoxai.segmenters.text import TextSegmenter

    images = photos()[:args.photos]
    print(f"machine: {describe_machine()}")
    print(f"onnxruntime CPU, {args.threads} thread(s), {len(images)} photos 640x480, {args.rounds} rounds in "
          f"rotating order after a warm-up of each setting")
    settings = {
        "defaults (det at own size, no direction)": {},
        "with direction classifier": {"direction": True},
    }
    segmenters = {label: TextSegmenter(threads=args.threads, **options) for label, options in settings.items()}
    # rapidocr's own detection size (short side upscaled to 736), for comparison
    upscaled = TextSegmenter(threads=args.threads)
    upscaled._ocr.cfg.Det.limit_type, upscaled._ocr.cfg.Det.limit_side_len = "min", 736
    segmenters["rapidocr detection default (short side 736)"] = upscaled
    run = time_rotating({label: lambda s=segmenter: s.segment_masks(images) for label, segmenter in segmenters.items()},
                        rounds=args.rounds)
    read = {label: {"regions read": str(sum(len(r) for r in result.regions))} for label, result in run.outputs.items()}
    print(rotation_table(run, per=len(images), unit="photo", extra=read))


if __name__ == "__main__":
    main()
