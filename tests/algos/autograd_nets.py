"""Independent autograd pieces for checking learners on tiny networks: a functional copy
of an rt_avg.nn.networks.MLP, the squashed Gaussian written out, and Adam's first step.

Nothing here calls the project's learners or references; only the starting weights are
read from the learner under test.
"""

from __future__ import annotations

import math

import pytest
import torch

F64 = torch.float64


@pytest.fixture
def float64():
    """Default dtype float64 and one torch thread (tiny tensors: more threads only add
    contention) for the test, restored after it."""
    old, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(old)
    torch.set_num_threads(threads)


def f64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=F64)


def leaves(mlp) -> list[torch.Tensor]:
    """Float64 leaf copies of an MLP's parameters, in its flat order (w0, b0, w1, b1, ...)."""
    return [p.detach().to(F64).clone().requires_grad_() for p in mlp.parameters()]


def forward(params: list[torch.Tensor], x: torch.Tensor, pnorm: bool) -> torch.Tensor:
    """LeakyReLU(0.01) hidden layers, optional h / ||h||, linear output."""
    *hidden, w_out, b_out = params
    for w, b in zip(hidden[::2], hidden[1::2]):
        x = torch.where(x @ w.T + b > 0, x @ w.T + b, 0.01 * (x @ w.T + b))
    if pnorm:
        x = x / torch.sqrt((x * x).sum())
    return x @ w_out.T + b_out


def gaussian(out: torch.Tensor, act_dim: int, std_param: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, log std) from the actor's output [mu, h], h clamped to [-20, 2]."""
    mu, h = out[:act_dim], out[act_dim:]
    scale = 0.5 if std_param == "published" else 1.0
    return mu, torch.clamp(h, -20.0, 2.0) * scale


def log_pi(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log density of tanh(u) for u ~ N(mu, exp(log_std)^2), written out."""
    z = (u - mu) / torch.exp(log_std)
    gauss = (-0.5 * z * z - log_std - 0.5 * math.log(2 * math.pi)).sum()
    return gauss - torch.log(1 - torch.tanh(u) ** 2).sum()


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def adam_first_step(params, grads, lr: float, beta1: float, beta2: float = 0.999,
                    eps: float = 1e-8) -> list[torch.Tensor]:
    """Parameters after one Adam step from zero moments (bias-corrected)."""
    out = []
    for p, g in zip(params, grads):
        m_hat = (1 - beta1) * g / (1 - beta1)
        v_hat = (1 - beta2) * g * g / (1 - beta2)
        out.append((p - lr * m_hat / (v_hat.sqrt() + eps)).detach())
    return out


def perturb(mlp, generator: torch.Generator, scale: float = 0.3) -> None:
    """Move weights off their init so no unit sits exactly at zero."""
    with torch.no_grad():
        mlp.flat_param.add_(torch.randn(mlp.flat_param.shape, generator=generator,
                                        dtype=mlp.flat_param.dtype) * scale)


def scaler_sigma(r_ent: list[float], gamma_t: list[float], returns: list[float]) -> float:
    """Return-based TD scaling from plain lists: sigma^2 = max(Var r + Var gamma_t E[G^2],
    1e-4); sigma = 1 while no return is recorded and the variance is <= 0.01."""
    def var(xs):
        m = sum(xs) / len(xs)
        return sum((x - m) ** 2 for x in xs) / len(xs)
    g2 = sum(g * g for g in returns) / len(returns) if returns else 0.0
    v = var(r_ent) + var(gamma_t) * g2
    if not returns and v <= 0.01:
        return 1.0
    return math.sqrt(max(v, 1e-4))
