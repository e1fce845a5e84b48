"""Built-in reference geolocators, registered through geoxai's own entry point."""
from ..hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("semp", "geoxai.models.semp:SemPModel",
             description="SemP semantic-partitioning classifier (Theiner et al., WACV 2022); labels with places")


@hookimpl
def register_weights(register):
    from ..weights import WeightFile

    register(WeightFile(
        name="semp_100_125_250",
        url="https://tib.eu/cloud/s/F5o6MP7y7AbLSpi/download/semp_100_125_250.zip",
        filename="semp_100_125_250.zip",
        sha256=None,  # the authors publish no checksum
        description="SemP({100,125,250}, f), EfficientNet-B4 on MP-16 (Theiner et al., WACV 2022): "
                    "Lightning base.ckpt, hparams.yaml, partitioning and class-mapping files",
        license="GPL-3.0 (jtheiner/semantic_geo_partitioning)",
    ))
