"""Check that geoxai runs on a CUDA device and gives the CPU's answers there.

For every built-in explainer on the tiny model and a random-weight ResNet-50 s2-style model, the
map computed with the model on the GPU is compared with the CPU map (rank correlation and
top-1000 overlap; float32 GPU kernels are not bit-identical to CPU ones). The ADE20k segmenter is
compared the same way (pixel agreement). Then throughput of ig-smoothgrad on ResNet-50 at 224 px.

    python benchmarks/gpu_check.py            # needs a CUDA device
"""
from __future__ import annotations

import time

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


def compare_explainers(model_name: str, **model_opts) -> None:
    photos = [synthetic_photo(seed=i, height=240, width=320) for i in range(2)]
    cpu = geoxai.load_model(model_name, **model_opts)
    gpu = geoxai.load_model(model_name, **model_opts).cuda()
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


def compare_segmenter() -> None:
    photos = [synthetic_photo(seed=i, height=240, width=320) for i in range(2)]
    pixels = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in photos])
    cpu = geoxai.load_segmenter("ade20k-hrnet", pretrained=False, seed=0)
    gpu = geoxai.load_segmenter("ade20k-hrnet", pretrained=False, seed=0, device="cuda")
    a, b = cpu.segment(pixels), gpu.segment(pixels)
    print(f"ade20k-hrnet on cuda: output {tuple(b.shape)} {b.dtype}; "
          f"pixel agreement with CPU: {float((a.cpu() == b.cpu()).float().mean()):.4f}")


def throughput() -> None:
    model = geoxai.load_model("s2", pretrained=False, num_classes=(300, 600, 1000)).cuda()
    photos = [synthetic_photo(seed=i, height=256, width=320) for i in range(16)]
    batch = model.prepare(photos)
    variants = {"float32": {}, "bfloat16": {"dtype": "bfloat16"}, "float32 fold_batchnorm": {"fold_batchnorm": True}}
    for label, options in variants.items():
        explainer = geoxai.load_explainer("ig-smoothgrad", n_steps=50, n_samples=5, batch_size=250, **options)
        explainer.explain(model, batch.pixels[:2])  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        explainer.explain(model, batch)
        torch.cuda.synchronize()
        rate = len(photos) / (time.perf_counter() - t0)
        print(f"ig-smoothgrad resnet50 224px n=5 steps=50 {label}: {rate:.2f} images/s")


if __name__ == "__main__":
    assert torch.cuda.is_available(), "this check needs a CUDA device"
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    compare_explainers("tiny", input_size=64)
    compare_explainers("s2", pretrained=False, num_classes=(30, 60, 100), seed=0)
    compare_segmenter()
    throughput()
    print("gpu check done")
