"""geoxai plugin template: registers model ``timm-cells`` lazily (by "module:attribute")."""
from geoxai import hookimpl


@hookimpl
def register_models(register):
    register("timm-cells", "geoxai_timm_template.model:TimmCellModel",
             description="any timm classifier over a cells CSV (lat,lon[,label]); template plugin")
