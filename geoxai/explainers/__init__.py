"""Built-in explainers, registered through geoxai's own entry point (lazy "module:attr" strings)."""
from ..hookspecs import hookimpl


@hookimpl
def register_explainers(register):
    register("ig-smoothgrad", "geoxai.explainers.ig_smoothgrad:IGSmoothGrad",
             description="Integrated Gradients + SmoothGrad^2, max over channels (SemP paper)")
    register("gradcam", "geoxai.explainers.gradcam:GradCAM",
             description="Grad-CAM at one layer (pytorch-grad-cam conventions)")
    register("combicam", "geoxai.explainers.combicam:CombiCAM",
             description="Combi-CAM: Grad-CAM summed over several layers/blocks, one pass")
    register("lrp", "geoxai.explainers.lrp:LRP",
             description="LRP, zennit EpsilonPlusFlat with ResNet/EfficientNet canonizers")
    register("attention-rollout", "geoxai.explainers.attention_rollout:AttentionRollout",
             description="attention rollout over a ViT's blocks (Abnar & Zuidema 2020), class-agnostic")
    register("gradient-attention", "geoxai.explainers.gradient_attention:GradientAttention",
             description="gradient-weighted attention relevance of a ViT (Chefer, Gur & Wolf, ICCV 2021)")
    register("occlusion", "geoxai.explainers.occlusion:Occlusion",
             description="occlusion: score drop under a sliding window, any model (black boxes too)")
    register("rise", "geoxai.explainers.rise:RISE",
             description="RISE: score under random coarse masks, any model (black boxes too)")
    register("concept-shap", "geoxai.explainers.concept_shap:ConceptShap",
             description="Shapley values of the segmenter's concepts by perturbation, any model")
