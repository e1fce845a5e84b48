"""What a removed pixel is replaced with: the fills of deletion and insertion.

Every fill works on the model's float input [B, 3, H, W] (after normalisation) and returns the
values removed pixels take. ``blur``, ``mean`` and ``noise`` do not depend on which pixels are
removed (one fill image per image); ``road`` does: it imputes each removed pixel from its
neighbours, so it is computed for every perturbed copy.

* ``blur`` (default, as RISE's insertion): a Gaussian blur of the image (sigma ``blur_sigma``
  pixels, reflect padding). Removes detail while keeping colours in distribution.
* ``mean``: each image's per-channel mean colour.
* ``noise``: Gaussian noise with each image's per-channel mean and standard deviation, seeded.
* ``road``: noisy linear imputation (Rong et al. 2022, ROAD): every removed pixel equals the
  weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonals),
  solved jointly as one sparse linear system per copy, plus Gaussian noise (std ``road_noise``, in
  model-input units, 0.01 as the authors' code). Known neighbours enter the right-hand side, so
  a removed region is filled by a smooth interpolation of its border: the least
  out-of-distribution fill, and the slowest.
"""
from __future__ import annotations

import numpy as np
import torch

FILLS = ("blur", "mean", "noise", "road")


def check_fill(fill: str) -> str:
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")
    return fill


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [B, C, H, W] with reflect padding (radius 3 sigma)."""
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(3.0 * sigma + 0.5))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    w = w / w.sum()
    c = x.shape[1]
    out = torch.nn.functional.pad(x, (radius, radius, 0, 0), mode="reflect")
    out = torch.nn.functional.conv2d(out, w.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    out = torch.nn.functional.pad(out, (0, 0, radius, radius), mode="reflect")
    return torch.nn.functional.conv2d(out, w.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def static_fill(x: torch.Tensor, fill: str, blur_sigma: float = 10.0, seed: int = 0) -> torch.Tensor:
    """The fill image [B, 3, H, W] of a mask-independent fill."""
    if fill == "blur":
        return gaussian_blur(x, blur_sigma)
    if fill == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if fill == "noise":
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(x.shape, generator=g, dtype=torch.float32).to(x)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True)
        return mean + std * noise
    raise ValueError(f"fill {fill!r} depends on the removed pixels; use road_impute")


# 8-neighbourhood offsets and ROAD's weights (direct 1/6, diagonal 1/12; they sum to 1)
_NEIGHBOURS = [(-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
               (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12)]


def road_impute(image: torch.Tensor, removed: torch.Tensor, noise: float = 0.01,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """ROAD's noisy linear imputation of one image [C, H, W] at the ``removed`` pixels [H, W].

    For each removed pixel i with in-image neighbours N(i) and weights w: sum_j w_ij (v_i - v_j) = 0,
    i.e. v_i is the normalised weighted mean of its neighbours, known neighbours moving to the
    right-hand side. Solved for all channels at once with one sparse LU factorisation."""
    import scipy.sparse
    import scipy.sparse.linalg

    c, h, w = image.shape
    removed_np = removed.detach().cpu().numpy().astype(bool)
    out = image.detach().cpu().double().numpy().copy()
    unknown = np.flatnonzero(removed_np.ravel())
    if unknown.size == 0:
        return image.clone()
    if unknown.size == h * w:  # nothing known to interpolate from: the system is singular
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        mean = image.double().mean(dim=(1, 2), keepdim=True)
        return (mean + noise * torch.randn((c, h, w), generator=g, dtype=torch.float64)).to(image)
    index = -np.ones(h * w, dtype=np.int64)
    index[unknown] = np.arange(unknown.size)
    rows_y, cols_x = np.divmod(unknown, w)
    values = out.reshape(c, h * w)
    diag = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, c))
    mi, mj, mv = [], [], []
    for dy, dx, weight in _NEIGHBOURS:
        ny, nx = rows_y + dy, cols_x + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        src = np.flatnonzero(inside)
        neighbour = ny[inside] * w + nx[inside]
        diag[src] += weight
        is_unknown = index[neighbour] >= 0
        mi.append(src[is_unknown])
        mj.append(index[neighbour[is_unknown]])
        mv.append(np.full(int(is_unknown.sum()), -weight))
        known = ~is_unknown
        np.add.at(rhs, src[known], weight * values[:, neighbour[known]].T)
    mi.append(np.arange(unknown.size))
    mj.append(np.arange(unknown.size))
    mv.append(diag)
    matrix = scipy.sparse.csc_matrix((np.concatenate(mv), (np.concatenate(mi), np.concatenate(mj))),
                                     shape=(unknown.size, unknown.size))
    solution = scipy.sparse.linalg.splu(matrix).solve(rhs)  # [unknown, C]
    if noise > 0:
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        solution = solution + noise * torch.randn(solution.shape, generator=g, dtype=torch.float64).numpy()
    values[:, unknown] = solution.T
    return torch.from_numpy(values.reshape(c, h, w)).to(image)
