"""Seconds per photo of the ``text`` segmenter (rapidocr PP-OCR ONNX models) on CPU.

    python benchmarks/bench_text.py [--threads 2] [--repeats 3]

Photos: four skimage photos resized to 640 x 480, two of them with a drawn street sign. Settings
compared: the segmenter's defaults (detection at the photo's own size up to det_limit=960, no
direction classifier), with the direction classifier, and rapidocr's own defaults (detection
input upscaled so its short side is at least 736).
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from _common import timed
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from geoxai.segmenters.text import TextSegmenter

    images = photos()
    print(f"onnxruntime CPU, {args.threads} threads, {platform.machine()}, {len(images)} photos 640x480, "
          f"best of {args.repeats}")
    settings = {
        "defaults (det at own size, no direction)": {},
        "with direction classifier": {"direction": True},
    }
    segmenters = {label: TextSegmenter(threads=args.threads, **options) for label, options in settings.items()}
    # rapidocr's own detection size (short side upscaled to 736), for comparison
    upscaled = TextSegmenter(threads=args.threads)
    upscaled._ocr.cfg.Det.limit_type, upscaled._ocr.cfg.Det.limit_side_len = "min", 736
    segmenters["rapidocr detection default (short side 736)"] = upscaled
    for label, segmenter in segmenters.items():
        segmenter.segment_masks(images[:1])  # warm-up: onnxruntime sessions
        cpu = time.process_time()
        seconds, result = timed(lambda s=segmenter: s.segment_masks(images), args.repeats)
        cpu = (time.process_time() - cpu) / args.repeats / len(images)
        read = sum(len(r) for r in result.regions)
        # CPU seconds / threads: the wall time an idle machine would need (the VM is shared)
        print(f"{label:<46} {seconds / len(images):.3f} s/photo wall, {cpu:.3f} CPU s/photo "
              f"({cpu / args.threads:.3f} s on {args.threads} idle cores)  ({read} regions read)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
