"""zennit rules that compute the same relevance with less work.

zennit's ``ZPlus`` evaluates every layer twice in its backward hook: positive weights on the
positive part of the input, and negative weights on the negative part. In a ReLU network almost
every convolution reads a ReLU output, whose negative part is all zeros: the second branch is a
convolution of zeros with a zero bias, so its output and its contribution to the relevance are
exactly zero. ``NonNegativeZPlus`` checks the stored input and skips that branch when it has no
negative entry (the relevance is bit-for-bit zennit's: adding exact zeros changes no float); any
other input runs zennit's own two-branch code.
"""
from __future__ import annotations

import torch
from zennit.core import ParamMod
from zennit.rules import ZPlus


class NonNegativeZPlus(ZPlus):
    """zennit's ``ZPlus`` (alpha=1, beta=0), without its all-zero branch for non-negative inputs."""

    def backward(self, module, grad_input, grad_output):
        stored = self.stored_tensors["input"][0]
        if bool((stored < 0).any()):
            return super().backward(module, grad_input, grad_output)
        inputs = self.input_modifiers[0](stored.clone()).requires_grad_()
        with ParamMod.ensure(self.param_modifiers[0])(module) as modified, torch.autograd.enable_grad():
            output = self.output_modifiers[0](modified.forward(inputs))
        # zennit divides by the sum of both branches' outputs; the second is exactly zero here
        grad_outputs = self.gradient_mapper(grad_output[0], [output])[:1]
        (gradient,) = torch.autograd.grad([output], [inputs], grad_outputs=grad_outputs,
                                          create_graph=grad_output[0].requires_grad)
        relevance = inputs * gradient
        return tuple(relevance if original.shape == relevance.shape else None for original in grad_input)
