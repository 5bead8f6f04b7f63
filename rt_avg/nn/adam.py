"""Adam over one flat parameter buffer per network.

:class:`rt_avg.nn.networks.MLP` keeps all its parameters (and gradients) as views of one
contiguous vector, so one Adam step is a single fused kernel call instead of an
``Optimizer.step`` walking parameter groups in Python, which at batch size 1 costs more
than the arithmetic.  The rule is standard Adam (no weight decay, no amsgrad); a test
checks it step for step against ``torch.optim.Adam``.
"""

from __future__ import annotations

import torch
from torch import Tensor


class FlatAdam:
    """Adam(lr, betas, eps) on a flat parameter vector and its flat gradient."""

    def __init__(self, param: Tensor, grad: Tensor, lr: float, betas: tuple[float, float],
                 eps: float = 1e-8) -> None:
        self.param, self.grad = param, grad
        self.lr, self.betas, self.eps = lr, betas, eps
        # With beta1 = 0 (the published setting for most tasks) the first moment *is* the
        # gradient; aliasing it to the gradient buffer keeps the working set of an update
        # inside the L2 cache, which matters more than the arithmetic here.
        self.exp_avg = grad if betas[0] == 0.0 else torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.step_count = torch.zeros((), dtype=torch.float32)
        self._fused = hasattr(torch, "_fused_adam_")

    def step(self) -> None:
        """Apply one Adam step using the gradient currently in the gradient buffer."""
        self.step_count += 1
        b1, b2 = self.betas
        if self._fused:
            torch._fused_adam_([self.param], [self.grad], [self.exp_avg], [self.exp_avg_sq], [],
                               [self.step_count], lr=self.lr, beta1=b1, beta2=b2,
                               weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        # Portable fallback with the same rule.
        t = float(self.step_count)
        self.exp_avg.lerp_(self.grad, 1.0 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(self.grad, self.grad, value=1.0 - b2)
        denom = (self.exp_avg_sq / (1.0 - b2 ** t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-self.lr / (1.0 - b1 ** t))

    def state_dict(self) -> dict:
        return {"exp_avg": self.exp_avg.clone(), "exp_avg_sq": self.exp_avg_sq.clone(),
                "step": self.step_count.clone()}

    def load_state_dict(self, state: dict) -> None:
        if self.exp_avg is not self.grad:
            self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.step_count.copy_(state["step"])
