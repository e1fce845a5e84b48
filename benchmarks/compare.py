"""Like-for-like ratios of geoxai against its peers, every one through ``harness.compare``.

    PYTHONPATH=. python benchmarks/compare.py                    # every case, one process each
    PYTHONPATH=. python benchmarks/compare.py --case lrp-zennit  # one case
    PYTHONPATH=. python benchmarks/compare.py --update-docs docs/benchmarks.md

Each case runs in a fresh process (no allocator or kernel-cache state carried over from another
case) with ``--threads`` torch threads on both sides (1 by default; the ``-2threads`` cases use 2),
a warm-up of both sides, then ``--rounds`` rounds in rotating order. Ratios are peer / geoxai
(> 1: geoxai is faster), CPU time first. Where the peer does work geoxai avoids (weight gradients
through the whole network), the table says so, and a row with that work removed from the peer
("frozen") stands beside it. ``--update-docs`` rewrites the block between the markers
``<!-- compare:begin -->`` and ``<!-- compare:end -->`` of the given file, with the machine line.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import subprocess
import sys
from pathlib import Path

import torch
from _common import ResNet50Geo, ViTB16Geo  # the scripts' folder is on sys.path when run as a script
from harness import (
    Comparison,
    Timings,
    compare,
    describe_machine,
    machine,
    markdown_table,
    replace_block,
    require_peer,
    timing_arguments,
)

HERE = Path(__file__).parent


# ---- inputs ---------------------------------------------------------------------------------
def resnet_inputs(images: int, size: int):
    from geoxai.testing import synthetic_photo

    model = ResNet50Geo(1000, size)
    batch = model.prepare([synthetic_photo(seed=i, height=size + 40, width=size + 90) for i in range(images)])
    return model, batch


def lite0_inputs(images: int):
    from geoxai.realnet import ImageNetLite0, real_photos

    model = ImageNetLite0()
    photos = list(real_photos().values())[:images]
    return model, model.prepare(photos)


def predicted(model, x) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def map_agreement(ours: torch.Tensor, peer: torch.Tensor) -> dict[str, float]:
    from geoxai.quality import similarity

    ours, peer = ours.float(), peer.float().reshape(ours.shape)
    scale = float(peer.abs().max()) or 1.0
    return {"rel. max diff": float((ours - peer).abs().max()) / scale,
            "spearman": float(similarity.spearman(ours, peer).mean())}


# ---- cases ----------------------------------------------------------------------------------
def ig_case(name: str, model, batch, n: int, steps: int, rounds: int, ours_options: dict | None = None,
            note: str = "") -> Comparison:
    """geoxai's IG-SmoothGrad² against captum's NoiseTunnel(IntegratedGradients) given the SAME noisy
    copies and the same chunk size; ``ours_options`` may run another setting (budget=80) instead."""
    require_peer("captum", "captum")
    from captum.attr import IntegratedGradients, NoiseTunnel

    from geoxai.explainers.ig_smoothgrad import IGSmoothGrad

    x = model.as_input(batch)
    chunk = 16
    ours = IGSmoothGrad(seed=0, batch_size=chunk, **(ours_options or {"n_samples": n, "n_steps": steps}))
    noisy = IGSmoothGrad.noisy_inputs(x, n, 0.15, seed=0, keys=IGSmoothGrad.noise_keys(batch))
    black = IGSmoothGrad.baseline(model, x, "black")
    cells = predicted(model, x)
    tunnel = NoiseTunnel(IntegratedGradients(model))

    def peer():
        original = NoiseTunnel._add_noise_to_input
        NoiseTunnel._add_noise_to_input = staticmethod(lambda inp, stdev, k: noisy.clone())
        try:
            maps = tunnel.attribute(x, nt_type="smoothgrad_sq", nt_samples=n, stdevs=0.15, n_steps=steps,
                                    baselines=black, target=cells, internal_batch_size=chunk)
        finally:
            NoiseTunnel._add_noise_to_input = original
        model.zero_grad(set_to_none=True)
        return maps.amax(1).detach()

    return compare(name, lambda: ours.explain(model, batch), peer, rounds=rounds, note=note, agree=map_agreement)


def case_ig_5x50(args) -> Comparison:
    model, batch = resnet_inputs(args.images, args.size)
    return ig_case("IG+SmoothGrad² 5 x 50, ResNet-50 vs captum NoiseTunnel(IG)", model, batch, 5, 50, args.rounds)


def case_ig_5x4(args) -> Comparison:
    model, batch = resnet_inputs(args.images, args.size)
    return ig_case("IG+SmoothGrad² 5 x 4, ResNet-50 vs captum", model, batch, 5, 4, args.rounds)


def case_ig_5x4_lite0(args) -> Comparison:
    model, batch = lite0_inputs(args.images)
    return ig_case("IG+SmoothGrad² 5 x 4, real EfficientNet-Lite0 vs captum", model, batch, 5, 4, args.rounds)


def case_ig_budget(args) -> Comparison:
    model, batch = resnet_inputs(args.images, args.size)
    return ig_case("IG+SmoothGrad² budget=80 vs captum 5 x 50, ResNet-50", model, batch, 5, 50, args.rounds,
                   ours_options={"budget": 80},
                   note="other setting, not the same map: budget=80 is the closer one to a converged "
                        "reference (docs: budget frontier)")


def case_ig_2threads(args) -> Comparison:
    torch.set_num_threads(2)
    model, batch = resnet_inputs(args.images, args.size)
    return ig_case("IG+SmoothGrad² 5 x 20, ResNet-50 vs captum, 2 threads", model, batch, 5, 20, args.rounds)


@contextlib.contextmanager
def grad_cam_peer(peer_model, x, cells, layers: list, **options):
    """pytorch-grad-cam's GradCAM on ``peer_model`` (a copy: it writes ``.grad`` on the parameters) at
    ``layers``, targeted at ``cells``; yields a callable that returns its maps as a tensor."""
    require_peer("pytorch_grad_cam", "grad-cam")
    from pytorch_grad_cam import GradCAM as PeerGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = PeerGradCAM(peer_model, layers, **options)
    targets = [ClassifierOutputTarget(int(c)) for c in cells]
    try:
        yield lambda: torch.from_numpy(cam(x, targets))
    finally:
        cam.activations_and_grads.release()


def gradcam_comparison(model, batch, rounds: int, frozen: bool = False) -> Comparison:
    """geoxai's Grad-CAM at ResNet-50's layer4 against pytorch-grad-cam at the same layer; ``frozen``
    freezes the peer's weights before layer4, so its backward pass stops there too."""
    from geoxai.explainers.gradcam import GradCAM

    x = model.as_input(batch)
    peer_model = copy.deepcopy(model)
    if frozen:  # no weight gradients before the target layer: backward stops at layer4's input
        peer_model.requires_grad_(False)
        peer_model.net.layer4.requires_grad_(True)
        peer_model.net.fc.requires_grad_(True)
    ours = GradCAM(normalize=True)
    name = "Grad-CAM layer4 vs pytorch-grad-cam" + (" (frozen weights before layer4)" if frozen else "")
    note = ("weight gradients of layer4 and fc only" if frozen
            else "peer back-propagates weight gradients through the whole network")
    with grad_cam_peer(peer_model, x, predicted(model, x), [peer_model.net.layer4]) as peer:
        return compare(name, lambda: ours.explain(model, batch, "predicted"), peer, rounds=rounds, note=note,
                       agree=map_agreement)


def case_gradcam(args) -> Comparison:
    return gradcam_comparison(*resnet_inputs(args.images, args.size), args.rounds)


def case_gradcam_frozen(args) -> Comparison:
    return gradcam_comparison(*resnet_inputs(args.images, args.size), args.rounds, frozen=True)


def combicam_comparison(model, batch, rounds: int) -> Comparison:
    """Combi-CAM over every block in one pass against pytorch-grad-cam given the same layers."""
    from geoxai.explainers.combicam import CombiCAM

    x = model.as_input(batch)
    combi = CombiCAM()
    blocks = combi.layers(model, combi.resolve())
    peer_model = copy.deepcopy(model)
    with grad_cam_peer(peer_model, x, predicted(model, x), [peer_model.get_submodule(p) for p in blocks]) as peer:
        return compare(f"Combi-CAM {len(blocks)} blocks (one pass) vs pytorch-grad-cam given {len(blocks)} layers",
                       lambda: combi.explain(model, batch), peer, rounds=rounds,
                       note="other combination rule (mean of per-layer normalised maps); peer computes weight "
                            "gradients")


def case_combicam(args) -> Comparison:
    return combicam_comparison(*resnet_inputs(args.images, args.size), args.rounds)


def case_lrp_zennit(args) -> Comparison:
    require_peer("zennit", "zennit")
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer

    from geoxai.explainers.lrp import LRP

    model, batch = resnet_inputs(args.images, args.size)
    x = model.as_input(batch)
    cells = predicted(model, x)
    one_hot = torch.nn.functional.one_hot(cells, model(x[:1]).shape[1]).to(x.dtype)
    peer_model = copy.deepcopy(model)
    composite = EpsilonPlusFlat(canonizers=[ResNetCanonizer()])
    ours = LRP()

    def peer():
        with Gradient(model=peer_model, composite=composite) as attributor:
            _, relevance = attributor(x, one_hot)
        return relevance.sum(1)

    return compare("LRP EpsilonPlusFlat + ResNet canonizers vs zennit used directly",
                   lambda: ours.explain(model, batch), peer, rounds=args.rounds,
                   note="peer is given the target cell; geoxai finds it", agree=map_agreement)


def vit_inputs(images: int):
    from geoxai.testing import synthetic_photo

    model = ViTB16Geo(1000)
    return model, model.prepare([synthetic_photo(seed=i, height=240, width=320) for i in range(images)])


def vit_tokens_to_grid(tokens: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's usual ViT reshape_transform: drop the class token, tokens -> 14 x 14 grid."""
    return tokens[:, 1:].reshape(tokens.shape[0], 14, 14, tokens.shape[2]).permute(0, 3, 1, 2)


def vit_comparison(model, batch, rounds: int, ours=None,
                   name: str = "ViT-B/16 Grad-CAM (last block) vs pytorch-grad-cam + reshape_transform") -> Comparison:
    """A ViT explainer (default: geoxai's Grad-CAM at the last block's norm1, whose map is then compared)
    against pytorch-grad-cam's Grad-CAM with the usual reshape_transform on that tap; both explain the
    predicted cell."""
    from geoxai.explainers.gradcam import GradCAM

    x = model.as_input(batch)
    explainer = ours or GradCAM(layer=-1, normalize=True)
    peer_model = copy.deepcopy(model)
    with grad_cam_peer(peer_model, x, predicted(model, x), [peer_model.net.blocks[-1].norm1],
                       reshape_transform=vit_tokens_to_grid) as peer:
        return compare(name, lambda: explainer.explain(model, batch, "predicted"), peer, rounds=rounds,
                       agree=None if ours else map_agreement,
                       note="peer back-propagates weight gradients through the whole network")


def case_vit_gradcam(args) -> Comparison:
    """Grad-CAM on a ViT-B/16 (random weights) vs pytorch-grad-cam with the usual reshape_transform on
    the same tap (the last block's norm1)."""
    return vit_comparison(*vit_inputs(args.images), args.rounds)


def case_deletion_torchcam(args) -> Comparison:
    """Deletion/insertion curves (20 steps, blur fill, probability) of the same Grad-CAM maps on the real
    EfficientNet-Lite0: geoxai.quality against torchcam 0.5's DeletionInsertionMetric (a benchmark-only
    peer: pip install torchcam)."""
    from bench_quality import curves_agree, geoxai_curves, gradcam_maps, torchcam_curves

    model, batch = lite0_inputs(max(args.images, 2))
    x = model.as_input(batch)
    maps = gradcam_maps(model, batch)
    return compare("deletion/insertion curves, real EfficientNet-Lite0 vs torchcam 0.5",
                   geoxai_curves(model, maps, x, steps=20, batch_size=32),
                   torchcam_curves(model, maps, x, steps=20, batch_size=32), rounds=args.rounds, agree=curves_agree,
                   note="geoxai also feeds channels-last copies (memory_format=auto); torchcam users can wrap the "
                        "model by hand (benchmarks/bench_quality.py times that too)")


CASES = {
    "ig-5x50": case_ig_5x50, "ig-5x4": case_ig_5x4, "ig-5x4-lite0": case_ig_5x4_lite0, "ig-budget80": case_ig_budget,
    "gradcam": case_gradcam, "gradcam-frozen": case_gradcam_frozen, "combicam": case_combicam,
    "lrp-zennit": case_lrp_zennit, "ig-2threads": case_ig_2threads, "vit-gradcam": case_vit_gradcam,
    "deletion-torchcam": case_deletion_torchcam,
}


def comparison_from_dict(d: dict) -> Comparison:
    return Comparison(d["name"], Timings(**d["ours"]), Timings(**d["peer"]), d["rounds"], d["note"], d["agreement"])


def run_each_in_its_own_process(names: list[str], args) -> tuple[list[Comparison], dict]:
    results, info = [], {}
    for name in names:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name, "--json", "--threads", str(args.threads),
               "--rounds", str(args.rounds), "--images", str(args.images), "--size", str(args.size)]
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"[{name}] failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        payload = json.loads(done.stdout.strip().splitlines()[-1])
        info = payload["machine"]
        results.append(comparison_from_dict(payload["result"]))
        print(markdown_table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return results, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="run only these (repeatable)")
    timing_arguments(ap)
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--json", action="store_true", help="(internal) print one case's result as JSON")
    ap.add_argument("--update-docs", type=Path, help="rewrite the compare block of this Markdown file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.case or list(CASES)
    if args.json:
        (name,) = names
        result = CASES[name](args)
        print(json.dumps({"machine": machine(), "result": result.to_dict()}))
        return
    results, info = run_each_in_its_own_process(names, args)
    if not results:
        raise SystemExit("no case finished")
    text = (f"Machine: {describe_machine(info)} (the -2threads row: 2). {args.rounds} rounds, "
            f"{args.images} image(s) at {args.size} px; command: `PYTHONPATH=. python benchmarks/compare.py "
            f"--rounds {args.rounds} --images {args.images} --size {args.size}`, {datetime.date.today().isoformat()}."
            f"\n\n{markdown_table(results)}")
    print(text)
    if args.update_docs:
        replace_block(args.update_docs, "compare", text)


if __name__ == "__main__":
    main()
