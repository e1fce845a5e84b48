"""Check that geoxai runs on a CUDA device, gives the CPU's answers there, and print every GPU
figure docs/benchmarks.md and docs/explainers.md record. One prepared script, under 8 minutes on
one GPU:

1. every built-in explainer on the tiny model and a random-weight ResNet-50 s2-style model: map
   on the GPU vs map on the CPU (rank correlation, top-1000 overlap); the ADE20k segmenter too;
2. ig-smoothgrad throughput on ResNet-50 at 224 px (float32, bfloat16, fold_batchnorm);
3. the full ``geoxai report`` pipeline (decode -> predict -> explain -> segment -> ci -> Parquet)
   on ResNet-50 at 224 px, images/s at the paper's setting (5 x 50) and at the recommended
   ``budget=``;
4. fidelity on the real EfficientNet-Lite0 at 224 px: bfloat16 vs float32 (same noise), and the
   IG-SmoothGrad² compute-to-fidelity frontier against a converged reference
   (``benchmarks/bench_ig_budget.py`` at 224 px, 3 photos x 2 seeds, reference 128 x 32).

    PYTHONPATH=. python benchmarks/gpu_check.py            # needs a CUDA device
    PYTHONPATH=. python benchmarks/gpu_check.py --smoke    # CPU, tiny sizes: does every step run?
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import geoxai
from geoxai.testing import synthetic_photo


def rank_corr(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.flatten().argsort().argsort().double()
    rb = b.flatten().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def topk_overlap(a: torch.Tensor, b: torch.Tensor, k: int = 1000) -> float:
    k = min(k, a.numel())
    ia = set(a.flatten().topk(k).indices.tolist())
    ib = set(b.flatten().topk(k).indices.tolist())
    return len(ia & ib) / k


def compare_explainers(model_name: str, device: str, **model_opts) -> None:
    photos = [synthetic_photo(seed=i, height=240, width=320) for i in range(2)]
    cpu = geoxai.load_model(model_name, **model_opts)
    gpu = geoxai.load_model(model_name, **model_opts).to(device)
    batch = cpu.prepare(photos)
    assert [p.cell for p in cpu.predict(batch)] == [p.cell for p in gpu.predict(batch)], "predictions differ"
    options = {"ig-smoothgrad": {"n_steps": 16, "seed": 0}, "gradcam": {}, "combicam": {}, "lrp": {}}
    for name, opts in options.items():
        explainer = geoxai.load_explainer(name, **opts)
        m_cpu = explainer.explain(cpu, batch)
        m_gpu = explainer.explain(gpu, batch)
        assert m_gpu.device.type == "cpu" and m_gpu.shape == m_cpu.shape
        corr = min(rank_corr(a, b) for a, b in zip(m_cpu, m_gpu))
        overlap = min(topk_overlap(a, b) for a, b in zip(m_cpu, m_gpu))
        print(f"{model_name:6s} {name:14s} cpu-vs-cuda rank corr {corr:.4f}  top-1000 overlap {overlap:.3f}")


def compare_segmenter(device: str, name: str = "ade20k-hrnet", size: tuple[int, int] = (240, 320),
                      **options) -> None:
    photos = [synthetic_photo(seed=i, height=size[0], width=size[1]) for i in range(2)]
    pixels = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in photos])
    options = options or {"pretrained": False, "seed": 0}
    cpu = geoxai.load_segmenter(name, **options)
    gpu = geoxai.load_segmenter(name, **options, **({"device": device} if name == "ade20k-hrnet" else {}))
    a, b = cpu.segment(pixels), gpu.segment(pixels)
    print(f"{name} on {device}: output {tuple(b.shape)} {b.dtype}; "
          f"pixel agreement with CPU: {float((a.cpu() == b.cpu()).float().mean()):.4f}")


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(device: str, images: int = 16, size: int = 224) -> None:
    model = geoxai.load_model("s2", pretrained=False, num_classes=(300, 600, 1000)).to(device)
    photos = [synthetic_photo(seed=i, height=size + 32, width=size + 96) for i in range(images)]
    batch = model.prepare(photos)
    variants = {"float32": {}, "bfloat16": {"dtype": "bfloat16"}, "float32 fold_batchnorm": {"fold_batchnorm": True}}
    for label, options in variants.items():
        explainer = geoxai.load_explainer("ig-smoothgrad", n_steps=50, n_samples=5, batch_size=250, **options)
        explainer.explain(model, batch.pixels[:2])  # warm-up
        synchronize(device)
        t0 = time.perf_counter()
        explainer.explain(model, batch)
        synchronize(device)
        print(f"ig-smoothgrad resnet50 {size}px n=5 steps=50 {label}: "
              f"{len(photos) / (time.perf_counter() - t0):.2f} images/s", flush=True)


def report_pipeline(device: str, images: int, size: int, explainer_settings: dict[str, dict]) -> None:
    """Images/s of the whole report pipeline (ResNet-50, ig-smoothgrad, tiny segmenter) per setting."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_report import _BenchPlugin, make_images

    from geoxai.plugins import register_plugin
    from geoxai.report import ReportConfig, RunOptions
    from geoxai.report.pipeline import plan, run_local

    register_plugin(_BenchPlugin(), "geoxai-bench")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_images(Path(tmp) / "data", images, (size + 32, size + 96))
        for label, options in explainer_settings.items():
            out = Path(tmp) / "out"
            shutil.rmtree(out, ignore_errors=True)
            config = ReportConfig(model="bench-resnet50", explainer="ig-smoothgrad", segmenter="tiny",
                                  model_options={"input_size": size}, explainer_options=options,
                                  segmenter_options={"num_concepts": 150}, k=min(1000, size * size))
            run = RunOptions(batch_size=16, workers=2, progress=False, device=device)
            store, pending, _ = plan(config, data, out, run.shard)
            synchronize(device)
            t0 = time.perf_counter()
            n = run_local(config, pending, store, run)
            synchronize(device)
            seconds = time.perf_counter() - t0
            info = store.read_images(columns=["explainer_info"]).explainer_info.dropna()
            print(f"report pipeline resnet50 {size}px ig-smoothgrad {label}: {n} images in {seconds:.1f} s, "
                  f"{n / seconds:.2f} images/s ({len(info)} rows with explainer_info)", flush=True)


def bfloat16_fidelity(device: str, size: int, n_steps: int) -> None:
    """Real EfficientNet-Lite0: the bfloat16 map vs the float32 map with the same noise."""
    from geoxai.realnet import ImageNetLite0, real_photos

    model = ImageNetLite0().to(device)
    model.view_config = model.view_config.replace(input_size=size, resize_size=int(round(size * 256 / 224)))
    photos = real_photos()
    batch = model.prepare(list(photos.values()), ids=list(photos))
    ref = geoxai.load_explainer("ig-smoothgrad", n_steps=n_steps, batch_size=250).explain(model, batch)
    for label, options in {"bfloat16": {"dtype": "bfloat16"}, "float32 channels_last": {"channels_last": True}}.items():
        maps = geoxai.load_explainer("ig-smoothgrad", n_steps=n_steps, batch_size=250, **options).explain(model, batch)
        corr = [rank_corr(a, b) for a, b in zip(maps, ref)]
        overlap = [topk_overlap(a, b) for a, b in zip(maps, ref)]
        print(f"lite0 {size}px ig-smoothgrad 5x{n_steps} {label} vs float32: rank corr min {min(corr):.4f} "
              f"mean {sum(corr) / len(corr):.4f}; top-1000 overlap mean {sum(overlap) / len(overlap):.3f}", flush=True)


def frontier(device: str, smoke: bool) -> None:
    """benchmarks/bench_ig_budget.py on this device: the frontier table of docs/explainers.md."""
    script = Path(__file__).parent / "bench_ig_budget.py"
    with tempfile.TemporaryDirectory() as tmp:
        if smoke:
            args = ["--size", "32", "--photos", "chelsea", "--budgets", "50", "--ref-samples", "4",
                    "--ref-steps", "2", "--batch-size", "64"]
        else:
            args = ["--size", "224", "--photos", "chelsea,coffee,astronaut", "--seeds", "2",
                    "--ref-samples", "128", "--ref-steps", "32", "--batch-size", "250"]
        subprocess.run([sys.executable, str(script), *args, "--device", device, "--out", tmp], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="run every step on the CPU at tiny sizes (a test)")
    args = ap.parse_args()
    from geoxai.explainers.ig_smoothgrad import budget_plan

    recommended = 80
    settings = {"paper 5x50": {}, f"budget={recommended} {budget_plan(recommended)}": {"budget": recommended}}
    if args.smoke:
        device = "cpu"
        print("smoke run on the CPU: tiny sizes, the numbers mean nothing", flush=True)
        compare_explainers("tiny", device, input_size=32)
        compare_segmenter(device, "tiny", size=(40, 48), seed=0)  # HRNet takes minutes on a CPU
        report_pipeline(device, images=2, size=32, explainer_settings={
            "paper 5x2": {"n_steps": 2}, "budget=8": {"budget": 8}})
        bfloat16_fidelity(device, size=32, n_steps=2)
        frontier(device, smoke=True)
    else:
        assert torch.cuda.is_available(), "this check needs a CUDA device (or run it with --smoke)"
        device = "cuda"
        print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
        compare_explainers("tiny", device, input_size=64)
        compare_explainers("s2", device, pretrained=False, num_classes=(30, 60, 100), seed=0)
        compare_segmenter(device)
        throughput(device)
        report_pipeline(device, images=64, size=224, explainer_settings=settings)
        bfloat16_fidelity(device, size=224, n_steps=50)
        frontier(device, smoke=False)
    print("gpu check done")


if __name__ == "__main__":
    main()
