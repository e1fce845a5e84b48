"""smp: a user's segmentation-models-pytorch model with its own class list, never downloading."""
import pytest
import torch

from geoxai.plugins import load_segmenter
from geoxai.segmenters.smp import SmpSegmenter, read_classes
from geoxai.types import ImageBatch

SMALL = dict(arch="FPN", encoder="mobilenet_v2", scales=32, device="cpu")


@pytest.fixture
def no_downloads(monkeypatch):
    import urllib.request

    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError("the smp segmenter tried to download something")

    import huggingface_hub
    import segmentation_models_pytorch.encoders as smp_encoders

    monkeypatch.setattr(smp_encoders, "hf_hub_download", refuse)  # where smp fetches ImageNet encoders
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 3, 30, 44), dtype=torch.uint8, generator=g)


def test_default_is_ade20k_and_downloads_nothing(no_downloads, images):
    seg = load_segmenter("smp", **SMALL)
    assert len(seg.concepts) == 150 and seg.concepts[2] == "sky"
    labels = seg.segment(images)
    assert labels.shape == (3, 30, 44) and labels.dtype == torch.long
    assert int(labels.max()) < 150
    assert torch.equal(labels, seg.segment(images))
    assert torch.equal(labels, seg.segment(ImageBatch(images, ids=["a", "b", "c"])))


def test_encoder_weights_option_is_ignored_not_downloaded(no_downloads):
    import segmentation_models_pytorch as smp

    with pytest.raises(AssertionError, match="tried to download"):  # the guard does catch smp's fetch
        smp.create_model("FPN", encoder_name="mobilenet_v2", encoder_weights="imagenet", classes=3)
    seg = SmpSegmenter(classes=["a", "b", "c"], encoder_weights="imagenet", **SMALL)
    assert seg.segment(torch.zeros(1, 3, 16, 16, dtype=torch.uint8)).shape == (1, 16, 16)


def test_own_weights_and_class_file_round_trip(no_downloads, images, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("sky\n\nroad\nbuilding\nvegetation\n", encoding="utf-8")
    trained = SmpSegmenter(classes=classes, seed=1, **SMALL)
    assert trained.concepts == ["sky", "road", "building", "vegetation"]
    torch.save(trained.network.state_dict(), tmp_path / "model.pth")
    loaded = SmpSegmenter(classes=["sky", "road", "building", "vegetation"], weights=tmp_path / "model.pth",
                          seed=2, **SMALL)
    assert torch.equal(loaded.segment(images), trained.segment(images))
    random_other = SmpSegmenter(classes=classes, seed=2, **SMALL)
    assert not all(torch.equal(a, b) for a, b in zip(random_other.network.state_dict().values(),
                                                     loaded.network.state_dict().values()))


def test_weights_for_another_class_count_fail_in_one_line(images, tmp_path):
    four = SmpSegmenter(classes=["a", "b", "c", "d"], **SMALL)
    torch.save(four.network.state_dict(), tmp_path / "four.pth")
    with pytest.raises(ValueError, match=r"four.pth: segmentation_head.0.weight has shape \(4,") as e:
        SmpSegmenter(classes=["a", "b"], weights=tmp_path / "four.pth", **SMALL)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="does not match the smp Unet/resnet18"):
        SmpSegmenter(arch="Unet", encoder="resnet18", classes=["a", "b", "c", "d"],
                     weights=tmp_path / "four.pth", scales=32)


def test_bad_options_fail_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="cannot build arch='NoSuchNet'"):
        SmpSegmenter(arch="NoSuchNet")
    with pytest.raises(ValueError, match="cannot build arch='FPN' encoder='no-such-encoder'"):
        SmpSegmenter(encoder="no-such-encoder")
    with pytest.raises(FileNotFoundError, match="missing.txt: class list file not found"):
        read_classes(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="duplicate class names: sky"):
        read_classes(["sky", "road", "sky"])
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="the class list is empty"):
        read_classes(tmp_path / "empty.txt")
    expected = "nope.pth: smp FPN/mobilenet_v2 model with 150 classes weights file not found"
    with pytest.raises(FileNotFoundError, match=expected):
        SmpSegmenter(weights=tmp_path / "nope.pth", **{k: v for k, v in SMALL.items() if k not in ("arch", "encoder")})


def test_rejects_non_uint8_images():
    seg = SmpSegmenter(classes=["a", "b"], **SMALL)
    with pytest.raises(ValueError, match=r"uint8 RGB images \[B, 3, H, W\]"):
        seg.segment(torch.rand(1, 3, 8, 8))
