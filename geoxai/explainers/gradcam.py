"""Grad-CAM (Selvaraju et al. 2017) at one named layer.

Raw map: ReLU of the channel sum of activations weighted by the spatial mean of the target
score's gradients, bilinearly upsampled to the input size (half-pixel centres, like
``cv2.resize``). ``normalize=True`` applies pytorch-grad-cam's per-image (m - min) / (max + 1e-7)
scaling the way it does (once at the layer's resolution, once after resizing), which makes the
output equal to ``pytorch_grad_cam.GradCAM`` (see the tests). The raw map is that output before
scaling: the two differ by a per-image shift and positive factor only (up to the 1e-7).
Everything but the channel weights is :class:`~geoxai.explainers.cam.CAMExplainer`'s default.
"""
from __future__ import annotations

import torch

from .cam import CAMExplainer, CAMLayer, gradient_means


class GradCAM(CAMExplainer):
    name = "gradcam"

    def cam_weights(self, layer: CAMLayer) -> torch.Tensor:
        return gradient_means(layer)
