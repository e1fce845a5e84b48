"""Several segmenters as one: ``ade20k-hrnet+text`` gives the ADE20k concepts plus text, in one ci table.

``load_segmenter("ade20k-hrnet+text")`` (and ``-s ade20k-hrnet -s text`` or ``-s ade20k-hrnet+text``
on the command line) builds each part and joins them in a ``CombinedSegmenter``: the concepts of
every part in order, each concept with its own mask, so masks of different parts overlap (text
on a building). Options reach the parts by name: ``text.scripts=true`` goes to ``text`` only;
a plain ``scales=300`` to every part that declares ``scales`` (an error if none does).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from .interfaces import MaskSegmenter, Segmenter
from .masks import ConceptMasks
from .options import OptionError
from .types import ImageBatch

__all__ = ["CombinedSegmenter", "segmenter_names", "route_options"]

SEPARATOR = "+"


def segmenter_names(specs: str | Sequence[str]) -> list[str]:
    """``"a+b"``, ``["a", "b"]`` or ``["a+b", "c"]`` -> the part names in order (each once)."""
    specs = [specs] if isinstance(specs, str) else list(specs)
    names: list[str] = []
    for spec in specs:
        for name in str(spec).split(SEPARATOR):
            name = name.strip()
            if not name:
                raise ValueError(f"segmenter {spec!r}: an empty name around {SEPARATOR!r} "
                                 "(write e.g. ade20k-hrnet+text)")
            if name not in names:
                names.append(name)
    if not names:
        raise ValueError("no segmenter named")
    return names


def route_options(names: Sequence[str], declared: Callable[[str], Mapping[str, Any] | None],
                  options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Split options among the parts ``names``: ``part.key`` goes to that part, a plain ``key`` to
    every part whose declared options (``declared(name)``; None: any keyword) include it."""
    routed: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in options.items():
        part, dot, option = key.partition(".")
        if dot:
            if part not in routed:
                raise OptionError(f"segmenter option {key!r}: {part!r} is not one of {', '.join(names)}")
            routed[part][option] = value
            continue
        takers = [name for name in names if (specs := declared(name)) is None or key in specs]
        if not takers:
            raise OptionError(f"segmenter option {key!r}: none of {', '.join(names)} has it "
                              f"(name the part: e.g. {names[-1]}.{key}=...)")
        for name in takers:
            routed[name][key] = value
    return routed


class CombinedSegmenter(MaskSegmenter):
    """The parts' concepts in order, each on its own mask; a concept name two parts share is
    written ``part/concept``. ``regions`` are the parts' regions, each tagged with its part."""

    def __init__(self, parts: Sequence[Segmenter]) -> None:
        if not parts:
            raise ValueError("a combined segmenter needs at least one part")
        self.parts = list(parts)
        self.name = SEPARATOR.join(p.name for p in self.parts)
        names = [c for p in self.parts for c in p.concepts]
        shared = {c for c in names if names.count(c) > 1}
        self.concepts = [f"{p.name}/{c}" if c in shared else c for p in self.parts for c in p.concepts]
        self.cue_concepts = [f"{p.name}/{c}" if c in shared else c for p in self.parts for c in p.cue_concepts]

    def to(self, device: str | torch.device) -> CombinedSegmenter:
        for part in self.parts:
            part.to(device)
        self._device = torch.device(device)
        return self

    def segment_masks(self, images: ImageBatch | torch.Tensor) -> ConceptMasks:
        results = [part.segment_masks(images) for part in self.parts]
        regions = None
        if any(r.regions is not None for r in results):
            regions = [[{**region, "segmenter": part.name} for part, r in zip(self.parts, results)
                        for region in (r.regions[i] if r.regions is not None else [])] for i in range(len(results[0]))]
        return ConceptMasks(torch.cat([r.masks.cpu() for r in results], dim=1), self.concepts, regions)
