"""Actor and critic networks with hand-written backward passes.

Both networks are MLPs: hidden layers with an activation, then (optionally) the
penultimate normalisation h -> h / ||h||_2, then a linear output layer.  Weights use
orthogonal init (gain 1) and zero biases, as published.

The AVG update needs, from one forward pass, gradients for two different losses that must
each reach only their own network (the critic's gradient with respect to its *input action*
feeds the actor).  Autograd would need two backward passes over the critic for that;
here :meth:`MLP.backward` returns parameter and input gradients from one vector-Jacobian
product, which is the main reason an update costs a fraction of an eager autograd one.
Correctness against autograd is covered by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rt_avg.nn.acting_net import LEAKY_SLOPE, NORM_EPS  # one definition, torch-free
from rt_avg.core.config import AgentConfig



def _safe_norm(h: Tensor) -> Tensor:
    norm = torch.linalg.vector_norm(h, dim=-1, keepdim=True)
    return torch.where(norm < NORM_EPS, 1.0, norm)


F = torch.nn.functional


def _activate(kind: str, z: Tensor) -> Tensor:
    if kind == "leaky_relu":
        return F.leaky_relu(z, LEAKY_SLOPE)
    if kind == "relu":
        return torch.relu(z)
    return torch.tanh(z)


def _activation_backward(kind: str, g: Tensor, z: Tensor, h: Tensor | None) -> Tensor:
    """Gradient through the activation; ``z`` is its input, ``h`` its output."""
    if kind == "leaky_relu":
        return torch.ops.aten.leaky_relu_backward(g, z, LEAKY_SLOPE, False)
    if kind == "relu":
        return torch.ops.aten.threshold_backward(g, z, 0.0)
    return torch.ops.aten.tanh_backward(g, h)


@dataclass
class ForwardCache:
    """What :meth:`MLP.backward` needs from the forward pass (all rows of the batch)."""

    inputs: list[Tensor]  # input of every linear layer, the last one normalised
    pre: list[Tensor]  # pre-activations of the hidden layers
    post: list[Tensor]  # activations of the hidden layers
    norm: Tensor | None  # ||h|| of the last hidden layer, when normalised


class MLP(nn.Module):
    """An MLP whose output layer may be made of several separately initialised heads.

    Parameters do not require grad: the learner never uses autograd, and plain tensors
    skip autograd's dispatch overhead.  Call :meth:`flatten` once to place all parameters
    and their gradients in two contiguous buffers (what :class:`rt_avg.nn.adam.FlatAdam`
    steps on).
    """

    def __init__(self, in_dim: int, hidden_sizes: tuple[int, ...], head_sizes: tuple[int, ...],
                 activation: str = "leaky_relu", penultimate_norm: bool = True) -> None:
        super().__init__()
        self.activation = activation
        self.penultimate_norm = penultimate_norm
        sizes = (in_dim, *hidden_sizes)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], sum(head_sizes))
        with torch.no_grad():
            for layer in self.hidden:
                nn.init.orthogonal_(layer.weight, gain=1.0)
                layer.bias.zero_()
            # Each head is its own orthogonal matrix, as with separate nn.Linear heads.
            start = 0
            for size in head_sizes:
                block = torch.empty(size, sizes[-1])
                nn.init.orthogonal_(block, gain=1.0)
                self.out.weight[start:start + size].copy_(block)
                start += size
            self.out.bias.zero_()
        self.requires_grad_(False)
        self.flat_param, self.flat_grad = self.flatten()

    def flatten(self) -> tuple[Tensor, Tensor]:
        """Make every parameter (and its gradient) a view of one flat buffer."""
        params = list(self.parameters())
        flat = torch.cat([p.reshape(-1) for p in params])
        grad = torch.zeros_like(flat)
        grads, offset = [], 0
        for p in params:
            n = p.numel()
            p.data = flat[offset:offset + n].view_as(p)
            grads.append(grad[offset:offset + n].view_as(p))
            offset += n
        # (weight, bias, weight grad, bias grad) per layer, in forward order; the bias
        # gradient is kept as a row (1, O) and a column (O, 1) view for the backward pass.
        layers = [*self.hidden, self.out]
        by_param = dict(zip((id(p) for p in params), grads))
        self._layers = [(lin.weight, lin.bias, by_param[id(lin.weight)], by_param[id(lin.bias)])
                        for lin in layers]
        self._bias_views = [(gb.view(1, -1), gb.view(-1, 1)) for *_, gb in self._layers]
        return flat, grad

    def forward(self, x: Tensor) -> Tensor:
        """Plain forward pass (acting): no cache kept."""
        *hidden, (w_out, b_out, _, _) = self._layers
        for w, b, _, _ in hidden:
            x = _activate(self.activation, F.linear(x, w, b))
        if self.penultimate_norm:
            x = x / _safe_norm(x)
        return F.linear(x, w_out, b_out)

    def forward_cached(self, x: Tensor) -> tuple[Tensor, ForwardCache]:
        """Forward pass for a batch ``x`` of shape (B, in_dim); keeps what backward needs."""
        *hidden, (w_out, b_out, _, _) = self._layers
        inputs, pre, post = [x], [], []
        h = x
        for w, b, _, _ in hidden:
            z = F.linear(h, w, b)
            h = _activate(self.activation, z)
            pre.append(z)
            post.append(h)
            inputs.append(h)
        norm = None
        if self.penultimate_norm:
            norm = _safe_norm(h)
            h = h / norm
            inputs[-1] = h
        out = F.linear(h, w_out, b_out)
        return out, ForwardCache(inputs, pre, post, norm)

    def backward(self, g_out: Tensor, cache: ForwardCache, row: int, scale: float = 1.0,
                 input_grad: bool = False, g_dot_features: float | None = None) -> Tensor | None:
        """Vector-Jacobian product for one batch ``row`` with upstream gradient ``g_out`` (1, O).

        Writes ``scale * dL/dparam`` into the flat gradient buffer (overwriting: gradients
        never accumulate).  Returns the *unscaled* gradient with respect to the network
        input when ``input_grad`` is set, else None.

        ``g_dot_features``, if given, is (g_out W_out) . p for the normalised features p, the
        projection the normalisation's backward needs.  The caller computes it as
        g_out . (out[row] - b_out) on the few output numbers it already holds as floats, so
        it costs two tensor operations instead of five.
        """
        last = len(self._layers) - 1
        sl = slice(row, row + 1)
        g = g_out
        for i in range(last, -1, -1):
            w, _, w_grad, _ = self._layers[i]
            b_row, b_col = self._bias_views[i]
            # Bias gradient = scaled g; the weight gradient is its outer product with the
            # layer input, written straight into the gradient buffer.
            torch.mul(g, scale, out=b_row)
            torch.mul(b_col, cache.inputs[i][sl], out=w_grad)
            if i == 0 and not input_grad:
                return None
            g = torch.mm(g, w)
            if i == 0:
                return g
            if i == last and cache.norm is not None:
                # d(h/n)/dh = (I - p p^T) / n; in the skipped case (n = 1, p = h ~ 0) this
                # is the identity up to O(NORM_EPS^2).
                p = cache.inputs[i][sl]
                if g_dot_features is None:
                    g = (g - p * (g * p).sum()) / cache.norm[row]
                else:
                    g = torch.add(g, p, alpha=-g_dot_features).div_(cache.norm[row])
            g = _activation_backward(self.activation, g, cache.pre[i - 1][sl],
                                     cache.post[i - 1][sl] if self.activation == "tanh" else None)
        return None




def build_actor(obs_dim: int, act_dim: int, cfg: AgentConfig) -> MLP:
    """Actor: heads (mean, std parameter) of size act_dim each.  Its flat parameters are what
    the acting side (:mod:`rt_avg.nn.acting_net`) evaluates."""
    return MLP(obs_dim, cfg.hidden_sizes, (act_dim, act_dim), cfg.activation, cfg.penultimate_norm)


def build_critic(obs_dim: int, act_dim: int, cfg: AgentConfig) -> MLP:
    """Critic Q(s, a) on concat(obs, action)."""
    return MLP(obs_dim + act_dim, cfg.hidden_sizes, (1,), cfg.activation, cfg.penultimate_norm)
