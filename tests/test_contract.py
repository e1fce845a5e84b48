"""geoxai.contract passes good plugins and names the broken contract of bad ones."""
import numpy as np
import pytest
import torch

import geoxai
from geoxai.contract import ContractError, check_explainer, check_model, check_segmenter
from geoxai.interfaces import Explainer, Segmenter
from geoxai.targets import parse_target
from geoxai.testing import TinyGeoModel, TinySegmenter


def test_passes_builtin_test_model_segmenter_and_explainers(tiny_model):
    check_model(tiny_model)
    check_model(TinyGeoModel(seed=1, hierarchical=True))
    check_segmenter(TinySegmenter(seed=0))
    for name in ("gradcam", "combicam", "lrp"):
        check_explainer(geoxai.load_explainer(name), tiny_model, target="region:EU")


class SevenScores(TinyGeoModel):
    def forward(self, x):
        return super().forward(x)[:, :7]


class NoGradient(TinyGeoModel):
    def forward(self, x):
        return super().forward(x).detach()


class OneHot(TinyGeoModel):  # differentiable in form only: argmax has no gradient
    def forward(self, x):
        scores = super().forward(x)
        return torch.nn.functional.one_hot(scores.argmax(1), scores.shape[1]).float() * 5


class Quantized(TinyGeoModel):  # round() has a zero gradient everywhere
    def forward(self, x):
        return super().forward(torch.round(x * 4) / 4)


class ViewSetInInit(TinyGeoModel):
    """The plugin guide's old mistake: the view set in __init__, not declared (the registry and a
    driver would decode other pixels than the model explains)."""

    def __init__(self):
        super().__init__()
        self.view_config = self.view_config.replace(input_size=48, resize_size=55)


class FineBeforeCoarse(TinyGeoModel):
    def __init__(self):
        super().__init__()
        self.partitionings = self.partitionings[::-1]


class BadParent(TinyGeoModel):
    def __init__(self):
        super().__init__()
        self.partitionings[1].parent = np.array([0, 0, 0, 1, 1, 2, 2, 3])


class OffTheEarth(TinyGeoModel):
    def __init__(self):
        super().__init__()
        self.partitionings[1].lat = self.partitionings[1].lat.copy()
        self.partitionings[1].lat[2] = 123.0


class FloatView(TinyGeoModel):
    def view(self, image):
        return super().view(image).float()


class MissingCamLayer(TinyGeoModel):
    cam_layers = {**TinyGeoModel.cam_layers, "head": "nonexistent.module"}


class UnusedCamLayer(TinyGeoModel):
    def __init__(self):
        super().__init__()
        self.spare = torch.nn.Conv2d(3, 3, 1)
        self.cam_layers = {**TinyGeoModel.cam_layers, "spare": "spare"}


class FlatCamLayer(TinyGeoModel):
    cam_layers = {**TinyGeoModel.cam_layers, "pool": "pool"}

    def __init__(self):
        super().__init__()
        self.pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(1))

    def partition_logits(self, x):
        z = self.pool(self.features(x))
        return [head(z) for head in self.heads]


def test_a_view_set_in_init_is_noticed_by_check_model_and_refused_at_build():
    message = (r"uses a view other than the one its class declares \(input_size: built 48, declared 64; "
               r"resize_size: built 55, declared 73\)")
    with pytest.raises(ContractError, match=message):
        check_model(ViewSetInInit(), options={})  # the options it was built with: the defaults
    check_model(TinyGeoModel(input_size=48), options={"input_size": 48})  # declared through view_config_for
    from geoxai import plugins

    plugins.registry().entries["model"]["view-in-init"] = plugins.Registration("model", "view-in-init",
                                                                               ViewSetInInit, "test")
    with pytest.raises(ValueError, match=r"model 'view-in-init': the built model's view differs from the view its "
                                         r"class declares for these options \(input_size: built 48, declared 64"):
        plugins.load_model("view-in-init")


@pytest.mark.parametrize("broken, message", [
    (SevenScores, r"forward must return \[B, 8\] scores over the finest partitioning 'fine', got \[B, 7\]"),
    (NoGradient, r"forward must be differentiable w.r.t. its input: target predicted score has no gradient"),
    (OneHot, r"forward must be differentiable w.r.t. its input: target predicted score has no gradient"),
    (Quantized, r"forward must be differentiable w.r.t. its input: the gradient of target predicted is zero"),
    (FineBeforeCoarse, r"ordered coarse -> fine|coarsest partitioning: its parent links must all be -1"),
    (BadParent, r"partitioning 'fine': parent\[7\] = 3 is not a cell of the next coarser partitioning 'coarse'"),
    (OffTheEarth, r"partitioning 'fine': cell 2 has lat/lon out of range"),
    (FloatView, r"view\(image\) must return uint8 \[3, 64, 64\]"),
    (MissingCamLayer, r"layer\('head'\) raised ValueError: model 'tiny' has no layer 'head'"),
    (UnusedCamLayer, r"CAM layer 'spare' \(spare\) never runs in forward"),
    (FlatCamLayer, r"CAM layer 'pool' must output a \[B, C, h, w\] feature map, got \[2, 32\]"),
])
def test_broken_models_fail_naming_the_contract(broken, message):
    with pytest.raises(ContractError, match=message):
        check_model(broken())


def test_fine_before_coarse_is_reported_as_ordering():
    class Unlinked(TinyGeoModel):
        def __init__(self):
            super().__init__()
            coarse, fine = self.partitionings
            fine.parent = None
            self.partitionings = [fine, coarse]

    with pytest.raises(ContractError, match="ordered coarse -> fine: partitioning 'coarse' has 3 cells"):
        check_model(Unlinked())


def test_contract_error_is_an_assertion_and_not_a_model():
    assert issubclass(ContractError, AssertionError)
    with pytest.raises(ContractError, match="must subclass geoxai.interfaces.GeoModel"):
        check_model(torch.nn.Linear(2, 2))


class InputTimesGradient(Explainer):
    """A correct minimal explainer; the broken ones below change one thing each."""

    def explain(self, model, images, target=None, **options):
        x = model.as_input(images).clone().requires_grad_(True)
        with torch.enable_grad():
            score = parse_target(target).score(model, model(x)).sum()
            (grad,) = torch.autograd.grad(score, x)
        return (grad * x).sum(1).detach().float().cpu()


class LeavesHook(InputTimesGradient):
    def explain(self, model, images, target=None, **options):
        model.features.register_forward_hook(lambda *a: None)
        return super().explain(model, images, target)


class LeavesParameterGrad(InputTimesGradient):
    def explain(self, model, images, target=None, **options):
        model(model.as_input(images)).sum().backward()
        return super().explain(model, images, target)


class WrongSize(InputTimesGradient):
    def explain(self, model, images, target=None, **options):
        return super().explain(model, images, target)[:, ::2, ::2].contiguous()


class Float64(InputTimesGradient):
    def explain(self, model, images, target=None, **options):
        return super().explain(model, images, target).double()


class LeavesTrainMode(InputTimesGradient):
    def explain(self, model, images, target=None, **options):
        model.train()
        return super().explain(model, images, target)


def test_explainer_contract(tiny_model):
    maps = check_explainer(InputTimesGradient(), tiny_model, target="within:41.39,2.17,1200")
    assert maps.shape == (2, 64, 64)
    cases = [
        (LeavesHook, "explain must remove its hooks: the model had 0 hooks before and 1 after"),
        (LeavesParameterGrad, r"must not leave gradients on the model's parameters"),
        (WrongSize, r"explain must return float32 \[B, H, W\] = \[2, 64, 64\] maps at the input size, "
                    r"got torch.float32 \[2, 32, 32\]"),
        (Float64, r"float32 \[B, H, W\].*got torch.float64"),
        (LeavesTrainMode, r"explain must leave the model in eval mode"),
    ]
    for broken, message in cases:
        model = TinyGeoModel(seed=0)
        with pytest.raises(ContractError, match=message):
            check_explainer(broken(), model)


class OutOfRange(TinySegmenter):
    def segment(self, images):
        return super().segment(images) + len(self.concepts)


class IntMasks(TinySegmenter):
    def segment(self, images):
        return super().segment(images).int()


class SquareMasks(TinySegmenter):
    def segment(self, images):
        masks = super().segment(images)
        return masks[:, :, : masks.shape[1]]


class NoConcepts(Segmenter):
    concepts = []

    def segment(self, images):
        return torch.zeros(1, 1, 1, dtype=torch.long)


@pytest.mark.parametrize("broken, message", [
    (OutOfRange, r"indices into concepts \(0..7, negative: none\), got values up to "),
    (IntMasks, r"LongTensor \[B, H, W\] = \[2, 72, 100\].*got torch.int32"),
    (SquareMasks, r"got torch.int64 \[2, 72, 72\]"),
    (NoConcepts, r"concepts must be a non-empty list"),
])
def test_broken_segmenters_fail_naming_the_contract(broken, message):
    with pytest.raises(ContractError, match=message):
        check_segmenter(broken())
