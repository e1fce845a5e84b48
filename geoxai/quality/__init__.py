"""Is the map faithful? Explanation-quality measures for geolocation models.

One small module per measure: ``deletion`` (deletion/insertion curves and their geolocation
curves), ``sanity`` (model-parameter randomisation), ``stability`` (seed-to-seed agreement of
stochastic explainers), ``baselines`` (smooth-random and centre-bias maps), ``fills`` and
``similarity`` (map similarity: Spearman, top-k overlap, relative L2, SSIM). See docs/quality.md.
"""
from .baselines import centre_bias_maps, smooth_random_maps
from .curves import Curves, trapezoid_auc
from .deletion import deletion, deletion_insertion, insertion
from .sanity import SanityResult, model_stages, sanity_check
from .similarity import relative_l2, spearman, ssim, topk_overlap
from .stability import StabilityResult, stability

__all__ = [
    "Curves", "SanityResult", "StabilityResult", "centre_bias_maps", "deletion", "deletion_insertion",
    "insertion", "model_stages", "relative_l2", "sanity_check", "smooth_random_maps", "spearman", "ssim",
    "stability", "topk_overlap", "trapezoid_auc",
]
