"""Contract checks for plugin authors: does my model / explainer / segmenter behave as geoxai expects?

    from geoxai.contract import check_model, check_explainer, check_segmenter

    def test_my_plugin_keeps_the_contract():
        model = MyModel(pretrained=False)
        check_model(model)
        check_explainer(geoxai.load_explainer("gradcam"), model)

Each check runs the object on small synthetic photos and raises ``ContractError`` (an
``AssertionError``, so pytest shows it as a test failure) naming the first broken contract.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn

from .interfaces import Explainer, GeoModel, Segmenter
from .prediction import predict, test_time_probabilities
from .targets import PredictedCell, Region, parse_target
from .types import GeoPrediction, ImageBatch, Partitioning
from .views import TEST_TIME, ViewConfig, view_differences
from .vit import cam_tap, find_vit

__all__ = ["ContractError", "check_model", "check_explainer", "check_segmenter", "sample_photos"]


class ContractError(AssertionError):
    """A plugin breaks one of geoxai's interface contracts; the message says which."""


def sample_photos(n: int = 2) -> list[np.ndarray]:
    """Deterministic RGB uint8 photos of different, non-square sizes."""
    from .testing import synthetic_photo

    return [synthetic_photo(seed=i, height=90 + 23 * i, width=130 - 17 * i) for i in range(n)]


def _fail(message: str) -> NoReturn:
    raise ContractError(message)


@contextmanager
def _stage(what: str):
    """Turn an unexpected exception inside ``what`` into a ContractError naming it."""
    try:
        yield
    except ContractError:
        raise
    except Exception as exc:
        raise ContractError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _shape(t: Any) -> str:
    return str(list(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


# ---- models --------------------------------------------------------------------------------
def check_model(model: GeoModel, photos: Sequence[np.ndarray] | None = None, top_k: int = 3,
                options: dict[str, Any] | None = None) -> None:
    """Check a GeoModel: its declared view, partitionings, preprocessing, forward, targets, predict
    and CAM layers. ``options``: the options it was built with (what ``view_config_for`` reads)."""
    if not isinstance(model, GeoModel):
        _fail(f"a model must subclass geoxai.interfaces.GeoModel, got {type(model).__name__}")
    _check_declared_view(model, options)
    photos = list(photos) if photos is not None else sample_photos(2)
    was_training = model.training
    model.eval()
    try:
        _check_partitionings(model)
        batch = _check_preprocessing(model, photos)
        x = model.as_input(batch)
        probs = _check_forward(model, x)
        _check_predict(model, batch, photos, probs, top_k)
        _check_cam_layers(model, x)
    finally:
        model.train(was_training)


def _check_partitionings(model: GeoModel) -> None:
    parts = getattr(model, "partitionings", None)
    if not isinstance(parts, (list, tuple)) or not parts:
        _fail("model.partitionings must be a non-empty list of Partitioning, ordered coarse -> fine")
    for level, part in enumerate(parts):
        if not isinstance(part, Partitioning):
            _fail(f"partitionings[{level}] must be a geoxai.types.Partitioning, got {type(part).__name__}")
        where = f"partitioning {part.name!r}"
        if len(part) == 0:
            _fail(f"{where} has no cells")
        bad = ~np.isfinite(part.lat) | ~np.isfinite(part.lon) | (np.abs(part.lat) > 90) | (np.abs(part.lon) > 180)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail(f"{where}: cell {i} has lat/lon out of range: ({part.lat[i]}, {part.lon[i]})")
        if level == 0:
            if part.parent is not None and (part.parent != -1).any():
                _fail(f"{where} is the coarsest partitioning: its parent links must all be -1")
            continue
        coarser = parts[level - 1]
        if len(part) < len(coarser):
            _fail(f"partitionings must be ordered coarse -> fine: {where} has {len(part)} cells but the "
                  f"coarser {coarser.name!r} before it has {len(coarser)}")
        if part.parent is not None:
            if part.parent.shape != (len(part),):
                _fail(f"{where}: parent must have one entry per cell ({len(part)}), got shape {part.parent.shape}")
            wrong = (part.parent < -1) | (part.parent >= len(coarser))
            if wrong.any():
                i = int(np.flatnonzero(wrong)[0])
                _fail(f"{where}: parent[{i}] = {part.parent[i]} is not a cell of the next coarser "
                      f"partitioning {coarser.name!r} ({len(coarser)} cells)")


def _check_declared_view(model: GeoModel, options: dict[str, Any] | None) -> None:
    """One truth for the view: what the class declares (``view_config_for(**options)``, what a
    driver decodes with, without the model) is what the model uses. Without ``options`` a class
    whose view depends on them cannot be checked here (the registry checks it at build)."""
    if not isinstance(model.view_config, ViewConfig):
        _fail(f"view_config must be a geoxai.views.ViewConfig, got {type(model.view_config).__name__}")
    cls = type(model)
    if options is None and cls.view_config_for.__func__ is not GeoModel.view_config_for.__func__:  # type: ignore[attr-defined]
        return
    with _stage("view_config_for(**options)"):
        declared = cls.view_config_for(**(options or {}))
    if declared != model.view_config:
        differences = view_differences(model.view_config, declared)
        _fail(f"the model uses a view other than the one its class declares ({differences}): declare the view "
              "as data (view_config, or view_config_for(**options)), not in __init__")


def _check_preprocessing(model: GeoModel, photos: Sequence[np.ndarray]) -> ImageBatch:
    size = model.view_config.input_size
    views = []
    for i, photo in enumerate(photos):
        with _stage(f"view(photo {i} of shape {photo.shape})"):
            v = model.view(photo)
        if not isinstance(v, torch.Tensor) or v.dtype != torch.uint8 or tuple(v.shape) != (3, size, size):
            _fail(f"view(image) must return uint8 [3, {size}, {size}] (the input size), got "
                  f"{getattr(v, 'dtype', type(v).__name__)} {_shape(v)}")
        with _stage("test_time_views(image)"):
            tv = model.test_time_views(photo)
        if (not isinstance(tv, torch.Tensor) or tv.dtype != torch.uint8 or tv.ndim != 4 or tv.shape[0] < 1
                or tuple(tv.shape[1:]) != (3, size, size)):
            _fail(f"test_time_views(image) must return uint8 [n, 3, {size}, {size}], got "
                  f"{getattr(tv, 'dtype', type(tv).__name__)} {_shape(tv)}")
        views.append(v)
    batch = ImageBatch.stack(views, [f"photo{i}" for i in range(len(views))])
    with _stage("normalize(uint8 batch)"):
        x = model.normalize(batch.pixels)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or tuple(x.shape) != tuple(batch.pixels.shape):
        _fail(f"normalize(uint8 [B, 3, H, W]) must return a float tensor of the same shape "
              f"{list(batch.pixels.shape)}, got {getattr(x, 'dtype', '')} {_shape(x)}")
    if not torch.isfinite(x).all():
        _fail("normalize() produced non-finite values")
    with _stage("as_input(ImageBatch)"):
        xi = model.as_input(batch)
    if not isinstance(xi, torch.Tensor) or not xi.is_floating_point() or xi.shape != x.shape:
        _fail(f"as_input(ImageBatch) must return the float input {list(x.shape)}, got {_shape(xi)}")
    if xi.device != model.device:
        _fail(f"as_input() must put the input on the model's device {model.device}, got {xi.device}")
    return batch


def _check_forward(model: GeoModel, x: torch.Tensor) -> torch.Tensor:
    b, c = x.shape[0], len(model.finest)
    with _stage("forward(x)"), torch.no_grad():
        scores = model(x)
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or tuple(scores.shape) != (b, c):
        got = f"[B, {scores.shape[1]}]" if isinstance(scores, torch.Tensor) and scores.ndim == 2 and \
            scores.shape[0] == b else _shape(scores)
        _fail(f"forward must return [B, {c}] scores over the finest partitioning "
              f"{model.finest.name!r}, got {got}")
    if not scores.is_floating_point() or not torch.isfinite(scores).all():
        _fail("forward must return finite floating-point scores")
    with torch.no_grad():
        again = model(x)
    if not torch.allclose(scores, again, rtol=1e-4, atol=1e-5):
        _fail("forward must be deterministic in eval mode (two calls on the same input differ)")
    _check_gradients(model, x, scores)
    return torch.softmax(scores, 1)  # the model's distribution over the finest cells


def _check_gradients(model: GeoModel, x: torch.Tensor, scores: torch.Tensor) -> None:
    top2 = scores[0].topk(min(2, scores.shape[1])).indices.tolist()
    for target in (PredictedCell(), Region(cell_indices=tuple(top2))):
        xg = x.detach().clone().requires_grad_(True)
        with _stage(f"forward(x) with gradients for target {target}"), torch.enable_grad():
            out = model(xg)
            value = target.bind(model, out.detach()).score(out)  # as every explainer scores it
        if not value.requires_grad:
            _fail(f"forward must be differentiable w.r.t. its input: target {target} score has no gradient "
                  "(no_grad, detach() or a non-differentiable op inside forward?)")
        with _stage(f"backward of target {target}"):
            (grad,) = torch.autograd.grad(value.sum(), xg, allow_unused=True)
        if grad is None or not torch.isfinite(grad).all() or grad.abs().sum() == 0:
            _fail(f"forward must be differentiable w.r.t. its input: the gradient of target {target} "
                  f"is {'missing' if grad is None else 'zero or not finite'}")


def _check_predict(model: GeoModel, batch: ImageBatch, photos, probs: torch.Tensor, top_k: int) -> None:
    part = model.finest
    with _stage("predict(ImageBatch)"):
        preds = predict(model, batch, top_k=top_k)
    if not isinstance(preds, list) or len(preds) != len(batch):
        _fail(f"predict must return a list of {len(batch)} GeoPrediction, got {type(preds).__name__}")
    k = min(top_k, len(part))
    for i, p in enumerate(preds):
        if not isinstance(p, GeoPrediction):
            _fail(f"predict must return GeoPrediction objects, got {type(p).__name__}")
        best = int(probs[i].argmax())
        if not math.isclose(p.probability, float(probs[i, p.cell]), rel_tol=1e-4, abs_tol=1e-6) or \
                not math.isclose(p.probability, float(probs[i, best]), rel_tol=1e-4, abs_tol=1e-6):
            _fail(f"predict must give the most probable cell: image {i} got cell {p.cell} "
                  f"(p={p.probability:.4g}) but softmax(forward) peaks at cell {best} (p={float(probs[i, best]):.4g})")
        if not (math.isclose(p.lat, part.lat[p.cell], abs_tol=1e-4)
                and math.isclose(p.lon, part.lon[p.cell], abs_tol=1e-4)):
            _fail(f"predict must give the location of the predicted cell {p.cell}: got ({p.lat}, {p.lon}), "
                  f"the cell is at ({part.lat[p.cell]}, {part.lon[p.cell]})")
        values = [s.probability for s in p.top_k]
        if len(p.top_k) != k or values != sorted(values, reverse=True) or p.top_k[0].cell != p.cell:
            _fail(f"predict(top_k={top_k}) must list {k} cells by decreasing probability, led by the predicted cell")
    with _stage("predict(raw images, views='test-time') via test_time_views"):
        raw = predict(model, list(photos), top_k=1, views=TEST_TIME)
        views = test_time_probabilities(model, photos[0])
    if len(raw) != len(photos) or not all(0 <= r.probability <= 1 + 1e-6 for r in raw):
        _fail("predict(raw images) must return one GeoPrediction per image with a probability in [0, 1]")
    if tuple(views.shape) != (len(part),) or not math.isclose(float(views.sum()), 1.0, abs_tol=1e-4):
        _fail(f"the test-time views must give a distribution [{len(part)}] over the finest cells, got {_shape(views)}")


def _check_cam_layers(model: GeoModel, x: torch.Tensor) -> None:
    names = list(getattr(model, "cam_layers", {}) or {})
    default = getattr(model, "default_cam_layer", None)
    if default is not None and default not in names:
        names.append(default)
    if not names and find_vit(model) is not None:
        names.append("-1")  # a ViT's last block, what Grad-CAM uses by default
    reshape = getattr(model, "cam_reshape", {}) or {}
    for name in names:
        with _stage(f"layer({name!r})"):
            tap = cam_tap(model, name)  # a ViT block or token layer is seen through its token grid
            module = tap.module
        if not isinstance(module, nn.Module):
            _fail(f"CAM layer {name!r} must resolve to an nn.Module, got {type(module).__name__}")
        seen: list[Any] = []
        handle = module.register_forward_hook(lambda _m, _i, out, seen=seen: seen.append(out))
        try:
            with torch.no_grad():
                model(x)
        finally:
            handle.remove()
        if not seen:
            _fail(f"CAM layer {name!r} ({model.cam_layers.get(name, name)}) never runs in forward")
        out = seen[-1]
        if name in reshape and isinstance(out, torch.Tensor):
            out = reshape[name](out)
        elif isinstance(out, torch.Tensor):
            with _stage(f"token grid of CAM layer {name!r}"):
                out = tap.to_map(out, (x.shape[-2], x.shape[-1]))
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != x.shape[0]:
            _fail(f"CAM layer {name!r} must output a [B, C, h, w] feature map, got {_shape(out)} "
                  "(for token layers, expose a spatial view: see docs/plugins.md)")


# ---- explainers ----------------------------------------------------------------------------
def _hook_count(model: nn.Module) -> int:
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, k, {})) for m in model.modules() for k in kinds)


def quadrant_segmentation(count: int, height: int, width: int) -> torch.Tensor:
    """Concept labels [count, height, width] of four quadrants (concepts 0-3): the segmentation the
    contract hands to an explainer that scores concepts (``needs_segmentation``)."""
    rows = (torch.arange(height) >= height // 2).long()[:, None]
    cols = (torch.arange(width) >= width // 2).long()[None, :]
    return (2 * rows + cols).expand(count, height, width).clone()


def check_explainer(explainer: Explainer, model: GeoModel, photos: Sequence[np.ndarray] | None = None,
                    target: Any = None, **options: Any) -> torch.Tensor:
    """Check an Explainer on ``model``: float32 [B, H, W] maps at the input size, on CPU, finite,
    leaving no hooks, parameter gradients or changed modes behind. Returns the maps."""
    if not isinstance(explainer, Explainer):
        _fail(f"an explainer must subclass geoxai.interfaces.Explainer, got {type(explainer).__name__}")
    batch = model.prepare(list(photos) if photos is not None else sample_photos(2))
    hooks, training, grad_mode = _hook_count(model), model.training, torch.is_grad_enabled()
    flags = [p.requires_grad for p in model.parameters()]
    had_grad = [p.grad is not None for p in model.parameters()]
    b, (h, w) = len(batch), batch.size
    if getattr(explainer, "needs_segmentation", False) and "segmentation" not in options:
        options = {**options, "segmentation": quadrant_segmentation(b, h, w)}  # what a segmenter would give
    with _stage(f"{type(explainer).__name__}.explain(target={parse_target(target)})"):
        maps = explainer.explain(model, batch, target=target, **options)
    # float32 maps; float64 ones only for a float64 model (see docs/explainers.md)
    float64_model = any(p.dtype == torch.float64 for p in model.parameters())
    allowed = (torch.float32, torch.float64) if float64_model else (torch.float32,)
    if not isinstance(maps, torch.Tensor) or maps.dtype not in allowed or tuple(maps.shape) != (b, h, w):
        _fail(f"explain must return float32 [B, H, W] = [{b}, {h}, {w}] maps at the input size, got "
              f"{getattr(maps, 'dtype', type(maps).__name__)} {_shape(maps)}")
    if maps.device.type != "cpu":
        _fail(f"explain must return maps on the CPU, got {maps.device}")
    if not torch.isfinite(maps).all():
        _fail("explain returned non-finite values")
    if _hook_count(model) != hooks:
        _fail(f"explain must remove its hooks: the model had {hooks} hooks before and {_hook_count(model)} after")
    if [p.grad is not None for p in model.parameters()] != had_grad:
        _fail("explain must not leave gradients on the model's parameters (.grad was set)")
    if [p.requires_grad for p in model.parameters()] != flags:
        _fail("explain must restore the parameters' requires_grad flags")
    if model.training != training:
        _fail(f"explain must leave the model in {'train' if training else 'eval'} mode")
    if torch.is_grad_enabled() != grad_mode:
        _fail("explain must restore torch's grad mode")
    return maps


# ---- segmenters ----------------------------------------------------------------------------
def check_segmenter(segmenter: Segmenter, photos: Sequence[np.ndarray] | None = None) -> torch.Tensor:
    """Check a Segmenter: LongTensor [B, H, W] at the images' size, indices < len(concepts) (negative:
    no concept), the same for an ImageBatch and its pixels; ``segment_masks`` gives bool masks
    [B, K, H, W] over the concepts. Returns the labels."""
    if not isinstance(segmenter, Segmenter):
        _fail(f"a segmenter must subclass geoxai.interfaces.Segmenter, got {type(segmenter).__name__}")
    concepts = getattr(segmenter, "concepts", None)
    if not isinstance(concepts, (list, tuple)) or not concepts or not all(isinstance(c, str) and c for c in concepts):
        _fail("segmenter.concepts must be a non-empty list of concept names (str)")
    if len(set(concepts)) != len(concepts):
        _fail("segmenter.concepts must not repeat a name")
    photos = list(photos) if photos is not None else sample_photos(2)
    h, w = 72, 100  # non-square on purpose: masks must keep H and W apart
    from PIL import Image

    def crop(im):
        small = np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BILINEAR))
        return torch.from_numpy(small.copy()).permute(2, 0, 1)

    batch = ImageBatch.stack([crop(p) for p in photos])
    with _stage(f"{type(segmenter).__name__}.segment(ImageBatch)"):
        masks = segmenter.segment(batch)
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.long or tuple(masks.shape) != (len(batch), h, w):
        _fail(f"segment must return a LongTensor [B, H, W] = [{len(batch)}, {h}, {w}] at the images' size, "
              f"got {getattr(masks, 'dtype', type(masks).__name__)} {_shape(masks)}")
    if masks.device.type != "cpu":
        _fail(f"segment must return its labels on the CPU (it runs on segmenter.device), got {masks.device}")
    with _stage(f"{type(segmenter).__name__}.to(segmenter.device)"):
        moved = segmenter.to(segmenter.device)
    if moved is not segmenter:
        _fail("segmenter.to(device) must move the segmenter and return it (like nn.Module.to)")
    if masks.numel() and masks.max() >= len(concepts):
        _fail(f"segment must return indices into concepts (0..{len(concepts) - 1}, negative: none), "
              f"got values up to {int(masks.max())}")
    with _stage(f"{type(segmenter).__name__}.segment_masks(ImageBatch)"):
        concept_masks = segmenter.segment_masks(batch)
    if tuple(concept_masks.masks.shape) != (len(batch), len(concepts), h, w) or concept_masks.concepts != concepts:
        _fail(f"segment_masks must return ConceptMasks [B, K, H, W] = [{len(batch)}, {len(concepts)}, {h}, {w}] "
              f"over segmenter.concepts, got {_shape(concept_masks.masks)}")
    with _stage(f"{type(segmenter).__name__}.segment(uint8 pixels)"):
        again = segmenter.segment(batch.pixels)
    if not isinstance(again, torch.Tensor) or not torch.equal(again.cpu(), masks.cpu()):
        _fail("segment must give the same masks for an ImageBatch and its uint8 pixels tensor")
    return masks
