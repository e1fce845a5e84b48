"""Shapley values of concepts by perturbation: the game, exact and sampled estimates, agreement with ci.

The players are the concepts of one image's segmentation; a coalition S keeps the pixels of the
concepts in S and fills the others; its value v(S) is the perturbed image's score. The Shapley
value of concept i is its average marginal gain v(S + i) - v(S) over all orders in which the
concepts can be added, so the values sum to v(all) - v(none).

* :func:`exact_shapley`: every coalition (2^n model calls), the weighted sum over subsets; equal
  to captum's ``ShapleyValues`` (all permutations) with the same feature mask and baseline.
* :func:`sampled_shapley`: antithetic pairs of random permutations (a permutation and its
  reverse), coalitions cached so that no coalition is asked twice, stopping at a call budget; the
  convergence estimate is the standard error of the pair means.

:func:`perturbation_influence` gives one image's rows (value, share, km moved without the concept);
:func:`ci_agreement` and :func:`agreement_table` rank-correlate gradient concept influence
(``geoxai.ci``) with the Shapley shares, per image and over a dataset.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CoalitionGame", "ShapleyEstimate", "agreement_table", "ci_agreement", "exact_shapley",
           "perturbation_influence", "rank_agreement", "sampled_shapley"]


@dataclass
class CoalitionGame:
    """v(S) for coalitions of ``players`` concepts, each asked once: ``evaluate(members [M, n] bool) ->
    (values [M], km [M])`` runs the model on M coalitions together."""

    players: int
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    known: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return len(self.known)

    def ask(self, codes: Sequence[int]) -> None:
        """Evaluate the coalitions (bit codes) not asked yet, in one batch."""
        todo = sorted({int(c) for c in codes} - set(self.known))
        if not todo:
            return
        bits = 1 << np.arange(self.players)
        members = (np.asarray(todo, dtype=np.int64)[:, None] & bits[None]) != 0
        values, km = self.evaluate(members)
        for code, value, moved in zip(todo, np.asarray(values, dtype=np.float64), np.asarray(km, dtype=np.float64)):
            self.known[code] = (float(value), float(moved))

    def value(self, code: int) -> float:
        self.ask([code])
        return self.known[code][0]

    def km(self, code: int) -> float:
        self.ask([code])
        return self.known[code][1]

    @property
    def everyone(self) -> int:
        return (1 << self.players) - 1


@dataclass
class ShapleyEstimate:
    values: np.ndarray            # [n] Shapley values
    stderr: np.ndarray | None     # [n] standard error (None: exact)
    permutations: int             # sampled permutations (0: exact)
    calls: int                    # coalitions evaluated

    @property
    def normalised_stderr(self) -> float | None:
        """The largest standard error divided by the sum of |values| (None: exact)."""
        if self.stderr is None:
            return None
        scale = float(np.abs(self.values).sum())
        return float(self.stderr.max() / scale) if scale > 0 else 0.0


def exact_shapley(game: CoalitionGame) -> ShapleyEstimate:
    """Shapley values from all 2^n coalitions: phi_i = sum over S without i of
    |S|! (n - |S| - 1)! / n! (v(S + i) - v(S))."""
    n = game.players
    codes = np.arange(1 << n)
    game.ask(codes.tolist())
    v = np.array([game.known[int(c)][0] for c in codes])
    sizes = np.array([bin(int(c)).count("1") for c in codes])
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) if s < n else 0.0
                       for s in range(n + 1)])
    phi = np.zeros(n)
    for i in range(n):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = float((weight[sizes[without]] * (v[without | (1 << i)] - v[without])).sum())
    return ShapleyEstimate(phi, None, 0, game.calls)


def sampled_shapley(game: CoalitionGame, max_calls: int, seed: int = 0, min_pairs: int = 2) -> ShapleyEstimate:
    """Antithetic permutation sampling within ``max_calls`` coalitions (at least ``min_pairs`` pairs)."""
    n = game.players
    rng = np.random.default_rng(seed)
    pair_means: list[np.ndarray] = []
    while True:
        planned: list[list[int]] = []
        budget_codes = set(game.known)
        while True:  # plan pairs while their new coalitions fit the budget; ask them in one batch
            order = rng.permutation(n).tolist()
            pair = [order, order[::-1]]
            needed = {prefix_code(p, k) for p in pair for k in range(n + 1)}
            enough = len(pair_means) + len(planned) >= min_pairs
            if enough and len(budget_codes | needed) > max_calls:
                break
            planned.extend(pair)
            budget_codes |= needed
            if len(budget_codes) >= max_calls or len(planned) >= 64:
                break
        if not planned:
            break
        game.ask(sorted(budget_codes - set(game.known)))
        for first, second in zip(planned[0::2], planned[1::2]):
            pair_means.append((marginals(game, first) + marginals(game, second)) / 2)
        if len(budget_codes) >= max_calls:
            break
    samples = np.stack(pair_means)
    stderr = samples.std(axis=0, ddof=1) / math.sqrt(len(samples)) if len(samples) > 1 else np.full(n, np.inf)
    return ShapleyEstimate(samples.mean(axis=0), stderr, 2 * len(samples), game.calls)


def prefix_code(order: Sequence[int], k: int) -> int:
    code = 0
    for player in order[:k]:
        code |= 1 << player
    return code


def marginals(game: CoalitionGame, order: Sequence[int]) -> np.ndarray:
    out = np.zeros(game.players)
    code = 0
    before = game.known[code][0]
    for player in order:
        code |= 1 << player
        after = game.known[code][0]
        out[player] = after - before
        before = after
    return out


def perturbation_influence(concepts: Sequence[int], estimate: ShapleyEstimate, km_removed: Sequence[float],
                           pixels: Sequence[int], concept_names: Sequence[str] | None = None) -> list[dict]:
    """One row per concept of one image: its Shapley value, its share (value / sum of |values|),
    the km the answer moves when the concept alone is removed, and its pixel count."""
    scale = float(np.abs(estimate.values).sum())
    rows = []
    for i, concept in enumerate(concepts):
        value = float(estimate.values[i])
        rows.append({
            "concept_index": int(concept),
            "concept": concept_names[concept] if concept_names is not None else str(concept),
            "shapley": value, "share": value / scale if scale > 0 else 0.0,
            "stderr": None if estimate.stderr is None else float(estimate.stderr[i]),
            "km_removed": None if not math.isfinite(km_removed[i]) else float(km_removed[i]),
            "pixels": int(pixels[i]),
        })
    return rows


def rank_agreement(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman rank correlation of two scores of the same concepts (NaN pairs dropped; None when
    fewer than 3 remain or one side is constant)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return None
    return float(spearmanr(a[keep], b[keep]).statistic)


def ci_agreement(ci_by_concept: dict[int, float], shapley_rows: Sequence[dict]) -> dict:
    """One image's agreement of gradient concept influence with Shapley shares: the Spearman
    correlation over the concepts both scored (``ci_by_concept``: concept index -> ci, e.g. from
    ``ConceptInfluence.ci[i]`` where valid; ``shapley_rows``: :func:`perturbation_influence`'s rows)."""
    shares = {int(r["concept_index"]): float(r["share"]) for r in shapley_rows}
    common = sorted(set(shares) & {c for c, v in ci_by_concept.items() if math.isfinite(v)})
    return {"concepts": len(common),
            "spearman": rank_agreement([ci_by_concept[c] for c in common], [shares[c] for c in common])}


def agreement_table(per_image: Sequence[tuple[dict[int, float], Sequence[dict]]]) -> dict:
    """Dataset-level agreement: the mean of the per-image Spearman correlations and the Spearman of
    all (image, concept) pairs pooled."""
    rows = [ci_agreement(ci, shap) for ci, shap in per_image]
    values = [r["spearman"] for r in rows if r["spearman"] is not None]
    pooled_ci, pooled_share = [], []
    for ci, shap in per_image:
        for row in shap:
            value = ci.get(int(row["concept_index"]))
            if value is not None and math.isfinite(value):
                pooled_ci.append(value)
                pooled_share.append(float(row["share"]))
    return {"images": len(rows), "images_with_agreement": len(values),
            "mean_spearman": float(np.mean(values)) if values else None,
            "pooled_spearman": rank_agreement(pooled_ci, pooled_share)}
