"""The public base of perturbation (model-agnostic) explainers: ``occlusion``, ``rise``, ``concept-shap``.

A perturbation explainer hides parts of a photo, asks the model again and turns the change of a
score into a map. It needs no gradients, so it explains a torch ``GeoModel`` and a black-box
``geoxai.blackbox.Geolocator`` (a VLM behind an HTTP endpoint) alike (``model_agnostic = True``).
A subclass writes one method, :meth:`PerturbationExplainer.attribute`, which receives an
:class:`ImageScorer` for one image and asks it to score *keep masks* ([N, H, W], 1 keeps the pixel,
0 replaces it by the fill); everything else is here:

* **fill** (what a hidden pixel becomes): ``mean`` (the image's mean colour), ``blur`` (a Gaussian
  blur, sigma = 1/16 of the side), ``noise`` (Gaussian noise with the image's per-channel mean and
  spread, seeded), ``zero`` (black), ``inpaint`` (OpenCV's Telea inpainting of the hidden pixels,
  computed per perturbed copy; masks are thresholded at 0.5).
* **score** (what is compared): ``target`` (torch models: the target's score, the logit of the
  predicted cell or a region's probability, as captum and every gradient explainer here),
  ``km`` (any model: ``exp(-d / tau_km)`` where ``d`` is how far the perturbed answer lies from
  the clean image's answer, or from a ``within:``/``country:``/``continent:`` target region, 0
  inside; an answer without coordinates scores 0), ``logprob`` (a geolocator whose answers carry
  ``meta["logprob_score"]``, e.g. the ``vlm`` model with ``logprobs=true``). ``auto``: ``target``
  for a torch model, ``km`` for a black box. The kernel's ``tau_km`` (default 750 km, the
  "country" radius of the usual accuracy table) sets how far counts as "gone": an answer 750 km
  away keeps 37 % of the score, 2,500 km away 4 %.
* batching (``batch_size`` perturbed copies per model call), and per-image facts in
  ``explain_with_info(...).info``: ``calls`` (perturbed and clean images the model was asked
  about), for a black box ``cache_hits`` (answers served from its cache, so ``calls - cache_hits``
  requests were paid for), ``prompt_tokens``/``completion_tokens`` and ``latency_s`` (when the
  server reports them), ``clean_score``, the
  clean ``answer``, ``km_moved_mean``/``km_moved_max`` (how far the perturbed answers moved from the
  clean one) and ``unanswered`` (perturbed copies whose answer held no coordinates).

Maps are centred: a pixel that does not matter gets about 0 and a positive value means the
pixel supports the answer, so maps of different perturbation explainers compare directly.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..blackbox import Geolocator, answers_from_logits, check_answer, km_from_target, reference_logprob
from ..targets import parse_target
from ..types import Attribution, ImageBatch
from .base import BaseExplainer, model_input, untouched

__all__ = ["FILLS", "SCORES", "ImageScorer", "PerturbationExplainer", "PerturbationOptions", "fill_baseline"]

FILLS = ("mean", "blur", "noise", "zero", "inpaint")
SCORES = ("auto", "target", "km", "logprob")


@dataclass(frozen=True)
class PerturbationOptions:
    fill: str = "mean"          # mean | blur | noise | zero | inpaint: what a hidden pixel becomes
    score: str = "auto"         # auto | target | km | logprob (see the module doc)
    tau_km: float = 750.0       # the km kernel's scale: exp(-distance / tau_km)
    batch_size: int = 32        # perturbed copies per model call
    seed: int = 0               # noise fill (and random masks)


def fill_baseline(image: torch.Tensor, fill: str, black: torch.Tensor, seed: int = 0) -> torch.Tensor | None:
    """The replacement [3, H, W] for the hidden pixels of ``image`` [3, H, W] (None for ``inpaint``,
    which depends on the mask). ``black`` is what a black pixel is in ``image``'s space (0 for
    pixels, the normalised black for a model input)."""
    if fill == "mean":
        return image.mean(dim=(1, 2), keepdim=True).expand_as(image).clone()
    if fill == "zero":
        return black.to(image).expand_as(image).clone()
    if fill == "blur":
        import cv2

        sigma = max(image.shape[1:]) / 16
        hwc = image.permute(1, 2, 0).cpu().numpy().astype(np.float64)
        blurred = cv2.GaussianBlur(hwc, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        return torch.from_numpy(np.ascontiguousarray(blurred)).permute(2, 0, 1).to(image)
    if fill == "noise":
        generator = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(image.shape, generator=generator, dtype=torch.float64).to(image)
        mean = image.mean(dim=(1, 2), keepdim=True)
        return mean + noise * image.std(dim=(1, 2), keepdim=True)
    if fill == "inpaint":
        return None
    raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")


def inpaint(pixels: np.ndarray, keep: torch.Tensor) -> np.ndarray:
    """uint8 [H, W, 3] with the pixels where ``keep`` < 0.5 filled by OpenCV's Telea inpainting."""
    import cv2

    hole = (keep.detach().cpu().numpy() < 0.5).astype(np.uint8) * 255
    return cv2.inpaint(np.ascontiguousarray(pixels), hole, 3, cv2.INPAINT_TELEA)


@dataclass
class ImageScorer:
    """Scores perturbed copies of ONE image: ``scorer(keep)`` -> float64 [N] for keep masks [N, H, W].

    ``evaluate(images [N, 3, H, W]) -> (scores [N], km [N])`` asks the model; the composition with
    the fill, the batching and the counting happen here."""

    image: torch.Tensor                 # [3, H, W] in the space the fill lives in
    baseline: torch.Tensor | None       # [3, H, W], or None for inpainting
    evaluate: Any                       # Callable[[Tensor], tuple[np.ndarray, np.ndarray]]
    batch_size: int
    clean_score: float
    to_pixels: Any = None               # for inpainting: image space -> uint8 [H, W, 3], and back
    from_pixels: Any = None
    calls: int = 0
    km_moved: list[np.ndarray] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[2])

    def compose(self, keep: torch.Tensor) -> torch.Tensor:
        """The perturbed copies [N, 3, H, W] for keep masks [N, H, W]."""
        keep = keep.to(self.image)
        if self.baseline is not None:
            return self.image * keep[:, None] + self.baseline * (1 - keep[:, None])
        pixels = self.to_pixels(self.image)
        return torch.stack([self.from_pixels(inpaint(pixels, k)) for k in keep])

    def __call__(self, keep: torch.Tensor) -> np.ndarray:
        return self.score_with_km(keep)[0]

    def score_with_km(self, keep: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Scores [N] and how far each perturbed answer moved, in km [N] (NaN: no answer)."""
        scores, kms = [], []
        for start in range(0, keep.shape[0], self.batch_size):
            chunk = keep[start:start + self.batch_size]
            s, km = self.evaluate(self.compose(chunk))
            self.calls += len(chunk)
            scores.append(np.asarray(s, dtype=np.float64))
            kms.append(np.asarray(km, dtype=np.float64))
        km_all = np.concatenate(kms) if kms else np.zeros(0)
        self.km_moved.append(km_all)
        return (np.concatenate(scores) if scores else np.zeros(0)), km_all


def km_kernel(km: np.ndarray, tau_km: float) -> np.ndarray:
    """exp(-km / tau_km); no answer (NaN) scores 0."""
    return np.where(np.isfinite(km), np.exp(-np.nan_to_num(km, nan=0.0) / tau_km), 0.0)


class PerturbationExplainer(BaseExplainer):
    """Base of model-agnostic explainers: subclasses implement :meth:`attribute`."""

    model_agnostic: ClassVar[bool] = True
    needs_segmentation: ClassVar[bool] = False
    Options: ClassVar[type] = PerturbationOptions

    @abc.abstractmethod
    def attribute(self, scorer: ImageScorer, opts: Any, segmentation: torch.Tensor | None
                  ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The centred map [H, W] (float64) of one image and facts about it (JSON-able)."""

    def explain(self, model, images, target=None, **options):
        return self.explain_with_info(model, images, target, **options).maps

    def explain_with_info(self, model, images, target=None, segmentation: torch.Tensor | None = None,
                          **options: Any) -> Attribution:
        opts = self.resolve(**options)
        check_perturbation_options(self.name, opts)
        if self.needs_segmentation and segmentation is None:
            raise ValueError(f"explainer {self.name!r} needs a segmentation (a segmenter, -s NAME)")
        scorers, answers, usages = image_scorers(model, images, target, opts)
        maps, infos = [], []
        for b, scorer in enumerate(scorers):
            seg = None if segmentation is None else torch.as_tensor(segmentation[b])
            heat, info = self.attribute(scorer, opts, seg)
            moved = np.concatenate(scorer.km_moved) if scorer.km_moved else np.zeros(0)
            answered = moved[np.isfinite(moved)]
            infos.append({
                "method": self.name, "fill": opts.fill, "score": resolved_score(model, opts.score),
                "tau_km": opts.tau_km, "calls": scorer.calls + 1, **usages[b],
                "clean_score": scorer.clean_score, "answer": answers[b],
                "km_moved_mean": float(answered.mean()) if answered.size else None,
                "km_moved_max": float(answered.max()) if answered.size else None,
                "unanswered": int((~np.isfinite(moved)).sum()), **info,
            })
            maps.append(heat)
        dtype = torch.float64 if scorers and scorers[0].image.dtype == torch.float64 else torch.float32
        return Attribution(torch.stack(maps).to(dtype).cpu().contiguous(), infos)


def check_perturbation_options(name: str, opts: Any) -> None:
    if opts.fill not in FILLS:
        raise ValueError(f"explainer {name!r}: fill must be one of {', '.join(FILLS)}, got {opts.fill!r}")
    if opts.score not in SCORES:
        raise ValueError(f"explainer {name!r}: score must be one of {', '.join(SCORES)}, got {opts.score!r}")
    if not opts.tau_km > 0 or opts.batch_size < 1:
        raise ValueError(f"explainer {name!r}: tau_km must be > 0 and batch_size >= 1, got "
                         f"tau_km={opts.tau_km}, batch_size={opts.batch_size}")


def resolved_score(model: Any, score: str) -> str:
    if score == "auto":
        return "km" if isinstance(model, Geolocator) else "target"
    if score == "target" and isinstance(model, Geolocator):
        raise ValueError(f"score=target needs a torch model's scores; model {model.name!r} is a black box: "
                         "use score=km (or logprob)")
    return score


def image_scorers(model: Any, images: Any, target: Any, opts: Any
                  ) -> tuple[list[ImageScorer], list[dict[str, Any]], list[dict[str, Any]]]:
    """One scorer per image, the clean answers (dicts) and each image's usage (a black box's cache
    hits, tokens and latency, updated as the scorer is used; empty for a torch model)."""
    if isinstance(model, Geolocator):
        return _geolocator_scorers(model, images, target, opts)
    return _torch_scorers(model, images, target, opts)


def _geolocator_scorers(model: Geolocator, images: Any, target: Any, opts: Any):
    if not isinstance(images, ImageBatch):
        images = ImageBatch(torch.as_tensor(images))
    score = resolved_score(model, opts.score)
    clean = model.locate(images)
    for answer, image_id in zip(clean, images.ids):
        check_answer(answer, image_id)
    scorers, usages = [], []
    for b, answer in enumerate(clean):
        image_id = images.ids[b]
        tokens = answer.meta.get("tokens")
        if score == "logprob" and not tokens:
            raise ValueError(f"score=logprob: model {model.name!r} reported no token log-probabilities for image "
                             f"{image_id!r} (the vlm model needs logprobs=true and a server that returns them)")
        usage = {"cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0}
        add_usage(usage, [answer])
        evaluate = _black_box_evaluator(model, target, opts, score, answer, image_id, usage)
        image = images.pixels[b].double()
        clean_km = km_from_target([answer.lat], [answer.lon], target, (answer.lat, answer.lon), model)
        clean_score = 1.0 if score == "logprob" else float(km_kernel(clean_km, opts.tau_km)[0])
        scorers.append(ImageScorer(
            image=image, baseline=fill_baseline(image, opts.fill, torch.zeros(3, 1, 1), opts.seed + b),
            evaluate=evaluate, batch_size=opts.batch_size, clean_score=clean_score,
            to_pixels=lambda im: im.round().clamp(0, 255).byte().permute(1, 2, 0).numpy(),
            from_pixels=lambda px: torch.from_numpy(px).permute(2, 0, 1).double()))
        usages.append(usage)
    return scorers, [a.to_dict() for a in clean], usages


def _black_box_evaluator(model: Geolocator, target: Any, opts: Any, score: str, answer: Any, image_id: str,
                         usage: dict[str, Any]):
    reference = (answer.lat, answer.lon)
    tokens = answer.meta.get("tokens") or []
    clean_logprob = reference_logprob(tokens, tokens)

    def evaluate(batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        pixels = batch.round().clamp(0, 255).to(torch.uint8)
        found = model.locate(ImageBatch(pixels, [f"{image_id}#perturbed{i}" for i in range(len(pixels))]))
        add_usage(usage, found)
        lat = np.array([a.lat for a in found])
        lon = np.array([a.lon for a in found])
        moved = km_from_target(lat, lon, "predicted", reference)
        if score == "logprob":  # relative to the clean answer: 1 = as sure of the same coordinates
            values = [reference_logprob(tokens, a.meta.get("tokens") or []) - clean_logprob for a in found]
            return np.exp(np.minimum(np.array(values, dtype=np.float64), 0.0)), moved
        return km_kernel(km_from_target(lat, lon, target, reference, model), opts.tau_km), moved

    return evaluate


def add_usage(usage: dict[str, Any], answers: list[Any]) -> None:
    """Add the answers' cache hits, token counts and latency (when reported) to ``usage``."""
    for answer in answers:
        meta = answer.meta
        usage["cache_hits"] += int(bool(meta.get("cached")))
        usage["prompt_tokens"] += int(meta.get("prompt_tokens") or 0)
        usage["completion_tokens"] += int(meta.get("completion_tokens") or 0)
        usage["latency_s"] = round(usage["latency_s"] + float(meta.get("latency_s") or 0.0), 4)


def scoring(model: Any) -> Any:
    """No graph; eval mode for a model left in training mode. A model already in eval mode is not
    touched at all, so threads sharing it never race on its flags."""
    return untouched(model) if model.training else torch.no_grad()


def _torch_scorers(model: Any, images: Any, target: Any, opts: Any):
    score = resolved_score(model, opts.score)
    if score == "logprob":
        raise ValueError(f"score=logprob needs a geolocator that reports log-probabilities; model {model.name!r} "
                         "is a torch model: use score=target or km")
    x = model_input(model, images)
    pixels = images.pixels if isinstance(images, ImageBatch) else (images if images.dtype == torch.uint8 else None)
    if opts.fill == "inpaint" and pixels is None:
        raise ValueError("fill=inpaint needs the images' pixels (an ImageBatch), not a float input")
    target = parse_target(target)
    with scoring(model):
        logits = model(x)
        bound = BaseExplainer.bind_target(model, target, logits)
        clean_target = bound.score(logits).double().cpu().numpy()
    clean = answers_from_logits(model, logits)
    black = model.normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8, device=x.device))[0].to(x.dtype)
    scorers = []
    for b, answer in enumerate(clean):
        reference = (answer.lat, answer.lon)

        def evaluate(batch: torch.Tensor, b=b, reference=reference) -> tuple[np.ndarray, np.ndarray]:
            with scoring(model):
                out = model(batch)
                rows = torch.full((len(batch),), b, dtype=torch.long, device=out.device)
                found = answers_from_logits(model, out)
                lat = np.array([a.lat for a in found])
                lon = np.array([a.lon for a in found])
                moved = km_from_target(lat, lon, "predicted", reference)
                if score == "km":
                    return km_kernel(km_from_target(lat, lon, target, reference, model), opts.tau_km), moved
                return bound.score(out, rows).double().cpu().numpy(), moved

        clean_score = (float(km_kernel(km_from_target([answer.lat], [answer.lon], target, reference, model),
                                       opts.tau_km)[0]) if score == "km" else float(clean_target[b]))
        scorers.append(ImageScorer(
            image=x[b], baseline=fill_baseline(x[b], opts.fill, black, opts.seed + b), evaluate=evaluate,
            batch_size=opts.batch_size, clean_score=clean_score,
            to_pixels=lambda _im, b=b: pixels[b].permute(1, 2, 0).cpu().numpy(),  # type: ignore[index]
            from_pixels=lambda px: model.normalize(torch.from_numpy(px).permute(2, 0, 1)[None].to(x.device))[0]
            .to(x.dtype)))
    return scorers, [a.to_dict() for a in clean], [{} for _ in clean]
