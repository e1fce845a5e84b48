"""ade20k-hrnet: the official checkpoint layout loads strictly; inference shape, determinism, scales.

The checkpoint pair is generated here from the naming rules of the public release
(CSAILVision/semantic-segmentation-pytorch, mit_semseg/models/hrnet.py and models.py:C1), not
from geoxai's modules, so a renamed or reshaped module in geoxai makes these tests fail.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from geoxai.concepts import ade20k_concepts, ade20k_palette
from geoxai.plugins import load_segmenter
from geoxai.segmenters._checkpoint import load_strict
from geoxai.segmenters.ade20k_hrnet import ADE20kHRNet

# every SynchronizedBatchNorm2d of the release saves these eight entries
BN_ENTRIES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked",
              "_tmp_running_mean", "_tmp_running_var", "_running_iter")
STAGES = ((2, 1, (48, 96)), (3, 4, (48, 96, 192)), (4, 3, (48, 96, 192, 384)))


def _bn(prefix: str, channels: int) -> dict:
    shapes = {"num_batches_tracked": (), "_running_iter": (1,)}
    return {f"{prefix}.{e}": shapes.get(e, (channels,)) for e in BN_ENTRIES}


def official_encoder_layout() -> dict[str, tuple]:
    """Key -> shape of encoder_epoch_30.pth, written out from the release's naming rules."""
    out = {"conv1.weight": (64, 3, 3, 3), **_bn("bn1", 64), "conv2.weight": (64, 64, 3, 3), **_bn("bn2", 64)}
    for b in range(4):
        p, cin = f"layer1.{b}", 64 if b == 0 else 256
        out.update({f"{p}.conv1.weight": (64, cin, 1, 1), **_bn(f"{p}.bn1", 64),
                    f"{p}.conv2.weight": (64, 64, 3, 3), **_bn(f"{p}.bn2", 64),
                    f"{p}.conv3.weight": (256, 64, 1, 1), **_bn(f"{p}.bn3", 256)})
    out.update({"layer1.0.downsample.0.weight": (256, 64, 1, 1), **_bn("layer1.0.downsample.1", 256)})
    out.update({"transition1.0.0.weight": (48, 256, 3, 3), **_bn("transition1.0.1", 48),
                "transition1.1.0.0.weight": (96, 256, 3, 3), **_bn("transition1.1.0.1", 96),
                "transition2.2.0.0.weight": (192, 96, 3, 3), **_bn("transition2.2.0.1", 192),
                "transition3.3.0.0.weight": (384, 192, 3, 3), **_bn("transition3.3.0.1", 384)})
    for stage, modules, ch in STAGES:
        for m in range(modules):
            p = f"stage{stage}.{m}"
            for br, c in enumerate(ch):
                for blk in range(4):
                    q = f"{p}.branches.{br}.{blk}"
                    out.update({f"{q}.conv1.weight": (c, c, 3, 3), **_bn(f"{q}.bn1", c),
                                f"{q}.conv2.weight": (c, c, 3, 3), **_bn(f"{q}.bn2", c)})
            for i in range(len(ch)):
                for j in range(len(ch)):
                    q = f"{p}.fuse_layers.{i}.{j}"
                    if j > i:
                        out.update({f"{q}.0.weight": (ch[i], ch[j], 1, 1), **_bn(f"{q}.1", ch[i])})
                    for k in range(i - j):
                        cout = ch[i] if k == i - j - 1 else ch[j]
                        out.update({f"{q}.{k}.0.weight": (cout, ch[j], 3, 3), **_bn(f"{q}.{k}.1", cout)})
    return out


def official_decoder_layout() -> dict[str, tuple]:
    return {"cbr.0.weight": (180, 720, 3, 3), **_bn("cbr.1", 180),
            "conv_last.weight": (150, 180, 1, 1), "conv_last.bias": (150,)}


def random_state(layout: dict[str, tuple], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("weight") and len(shape) == 1:  # BN scale < 1 keeps 100 residual blocks bounded
            state[key] = torch.rand(shape, generator=g) * 0.2 + 0.1
        elif key.endswith(("running_mean", "bias")):
            state[key] = torch.randn(shape, generator=g) * 0.1
        elif key.endswith("weight") and len(shape) == 4:
            state[key] = torch.randn(shape, generator=g) * math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
        else:
            state[key] = torch.ones(shape)
    return state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ade20k-hrnetv2-c1")
    states = {"encoder": random_state(official_encoder_layout(), 1),
              "decoder": random_state(official_decoder_layout(), 2)}
    for name, state in states.items():
        torch.save(state, folder / f"{name}_epoch_30.pth")
    return folder, states


@pytest.fixture(scope="module")
def checkpoint_dir(checkpoint):
    return checkpoint[0]


@pytest.fixture(scope="module")
def segmenter(checkpoint_dir):
    # the only HRNetV2-W48 built in this module; small test scale keeps it fast
    return load_segmenter("ade20k-hrnet", weights=str(checkpoint_dir), scales=32, batch_size=2, device="cpu")


def test_official_key_layout_loads_strictly(segmenter, checkpoint):
    enc = segmenter.network.encoder.state_dict()
    dec = segmenter.network.decoder.state_dict()
    assert set(enc) == set(official_encoder_layout())
    assert set(dec) == set(official_decoder_layout())
    for name, module_state in (("encoder", enc), ("decoder", dec)):
        for key, value in checkpoint[1][name].items():
            assert torch.equal(module_state[key], value), key
    assert segmenter.pretrained


def test_spot_checked_official_names_and_shapes(segmenter):
    enc = segmenter.network.encoder.state_dict()
    dec = segmenter.network.decoder.state_dict()
    assert enc["conv1.weight"].shape == (64, 3, 3, 3)
    assert enc["stage4.2.fuse_layers.3.0.2.0.weight"].shape == (384, 48, 3, 3)
    assert enc["stage4.2.fuse_layers.3.0.1.0.weight"].shape == (48, 48, 3, 3)
    assert enc["stage4.2.fuse_layers.0.3.0.weight"].shape == (48, 384, 1, 1)
    assert enc["stage3.3.branches.2.3.bn2._running_iter"].shape == (1,)
    assert "transition2.0.0.weight" not in enc  # identity transitions hold no module
    assert dec["conv_last.weight"].shape == (150, 180, 1, 1)
    assert dec["cbr.0.weight"].shape == (180, 720, 3, 3)
    params = sum(p.numel() for p in segmenter.network.encoder.parameters())
    assert 64e6 < params < 67e6  # HRNetV2-W48 is ~65M parameters


def test_segment_shape_classes_and_determinism(segmenter):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 3, 29, 43), dtype=torch.uint8, generator=g)
    labels = segmenter.segment(images)
    assert labels.shape == (3, 29, 43) and labels.dtype == torch.long
    assert 0 <= int(labels.min()) and int(labels.max()) < 150
    assert len(segmenter.concepts) == 150 and segmenter.concepts == ade20k_concepts()
    assert ade20k_palette().shape == (150, 3)
    assert torch.equal(labels, segmenter.segment(images))
    singles = torch.cat([segmenter.segment(images[i:i + 1]) for i in range(3)])
    assert (singles == labels).float().mean() > 0.99  # batching changes nothing but float rounding


def test_multi_scale_averages_softmax_of_upsampled_scores(segmenter):
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (2, 3, 24, 36), dtype=torch.uint8, generator=g)
    segmenter.scales = (32, 48)
    try:
        labels = segmenter.segment(images)
        with torch.inference_mode():
            probs = sum(F.interpolate(segmenter.network(segmenter.prepare(images, s)), size=(24, 36),
                                      mode="bilinear", align_corners=False).softmax(1) for s in (32, 48))
    finally:
        segmenter.scales = (32,)
    assert labels.shape == (2, 24, 36)
    assert (labels == probs.argmax(1)).float().mean() > 0.999


def test_input_resized_to_release_test_size(segmenter):
    x = segmenter.prepare(torch.zeros(1, 3, 48, 72, dtype=torch.uint8), 64)
    assert x.shape[-2:] == (64, 96)  # short side 64, already a multiple of 32
    assert torch.allclose(x[0, :, 0, 0], -torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225]))


def test_bad_weight_files_give_one_line_errors(segmenter, checkpoint_dir, tmp_path):
    encoder = segmenter.network.encoder
    before = encoder.conv1.weight.clone()
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint\nsecond line\n")
    with pytest.raises(ValueError, match="junk.pth: not a readable PyTorch checkpoint") as e:
        load_strict(encoder, junk, "HRNetV2-W48 encoder")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"does not match the HRNetV2-W48 encoder: \d+ missing keys") as e:
        load_strict(encoder, checkpoint_dir / "decoder_epoch_30.pth", "HRNetV2-W48 encoder")
    assert "\n" not in str(e.value)
    state = random_state(official_decoder_layout(), 3)
    state["conv_last.weight"] = torch.zeros(21, 180, 1, 1)  # a decoder trained for 21 classes
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"conv_last.weight has shape \(21, 180, 1, 1\) but the C1"):
        load_strict(segmenter.network.decoder, tmp_path / "shape.pth", "C1 decoder")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a state_dict"):
        load_strict(encoder, tmp_path / "list.pth", "HRNetV2-W48 encoder")
    assert torch.equal(encoder.conv1.weight, before)  # failed loads leave the model alone


def test_bookkeeping_buffers_may_be_absent(segmenter, tmp_path):
    decoder = segmenter.network.decoder
    state = {k: v for k, v in random_state(official_decoder_layout(), 4).items()
             if not k.endswith(("num_batches_tracked", "_tmp_running_mean", "_tmp_running_var", "_running_iter"))}
    torch.save(state, tmp_path / "plain_bn.pth")
    load_strict(decoder, tmp_path / "plain_bn.pth", "C1 decoder",
                optional=("num_batches_tracked", "_tmp_running_mean", "_tmp_running_var", "_running_iter"))
    assert torch.equal(decoder.conv_last.weight, state["conv_last.weight"])


def test_weight_paths_fail_before_building(tmp_path, checkpoint_dir):
    with pytest.raises(ValueError, match="must be a folder holding encoder_epoch_30.pth"):
        ADE20kHRNet(weights=checkpoint_dir / "encoder_epoch_30.pth")
    with pytest.raises(FileNotFoundError, match="nowhere: ade20k-hrnet weights file not found"):
        ADE20kHRNet(encoder_weights=tmp_path / "nowhere", pretrained=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="decoder_epoch_30.pth: ade20k-hrnet weights file not found"):
        ADE20kHRNet(weights=empty, encoder_weights=checkpoint_dir / "encoder_epoch_30.pth")


def test_pretrained_offline_error_names_file_and_url(monkeypatch):
    import urllib.error
    import urllib.request

    from geoxai.weights import WeightsUnavailableError, get

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(WeightsUnavailableError) as e:
        ADE20kHRNet(pretrained=True)
    message = str(e.value)
    assert "\n" not in message and "encoder_epoch_30.pth" in message
    assert "http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-hrnetv2-c1/encoder_epoch_30.pth" in message
    wf = get("ade20k-hrnetv2-c1-decoder")
    assert wf.url == "http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-hrnetv2-c1/decoder_epoch_30.pth"
    assert wf.sha256 is None and wf.size is None  # the release publishes no checksums
