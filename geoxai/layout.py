"""The memory layout a model's inputs are fed in: one rule for every explainer and quality measure.

oneDNN's CPU convolutions run faster on channels-last tensors (EfficientNet-Lite0 and ResNet-50,
float32: 1.2-2x, docs/benchmarks.md); the layout changes float rounding only, never what is
computed (the tests prove layouts the same function in float64). ``auto`` therefore picks
channels-last for a model with 2-D convolutions on the CPU and the plain layout elsewhere.
"""
from __future__ import annotations

import torch

MEMORY_FORMATS = ("auto", "contiguous", "channels_last")


def input_layout(model: torch.nn.Module, x: torch.Tensor, memory_format: str = "auto") -> torch.memory_format:
    """The layout to feed ``x`` to ``model`` in: ``memory_format`` resolved (``auto``: channels_last for
    a model with 2-D convolutions on the CPU, else contiguous). The model's weights are not touched."""
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format {memory_format!r}: use one of {', '.join(MEMORY_FORMATS)}")
    if memory_format == "auto":
        convolutional = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
        memory_format = "channels_last" if convolutional and x.device.type == "cpu" and x.dim() == 4 else "contiguous"
    return torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
