"""The actor's forward pass in numpy, for the acting side.

The acting process only evaluates the actor, one observation at a time: numpy does that
in a few microseconds per layer and spares the process importing torch (about 220 MB of
memory per process, a fifth of a small robot computer's budget).  The parameters are one
flat float32 vector in :class:`rt_avg.nn.networks.MLP`'s layout: (weight, bias) per layer in
forward order, weights row-major (out, in); inline, it is a view of the learner's live
parameters, so nothing is copied.  A test pins this forward pass to ``MLP.forward``.
"""

from __future__ import annotations

import numpy as np

LEAKY_SLOPE = 0.01  # the negative slope of leaky_relu (torch's default)
# Below this norm the penultimate normalisation is skipped (h is used as is).  With zero
# biases at init, an all-zero input (an observation equal to the running mean) gives h = 0,
# and h / ||h|| would be 0/0; near 0 the two definitions agree to within NORM_EPS.  (The
# learner's networks, rt_avg.nn.networks, import both from here.)
NORM_EPS = 1e-6


def layer_shapes(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int
                 ) -> list[tuple[int, int]]:
    """(out, in) of every linear layer, input to output."""
    sizes = (in_dim, *hidden_sizes, out_dim)
    return [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]


def param_count(shapes: list[tuple[int, int]]) -> int:
    return sum(o * i + o for o, i in shapes)


class ActorForward:
    """out = W_L h + b_L of an MLP whose parameters live in ``flat`` (float32, shared)."""

    def __init__(self, flat: np.ndarray, shapes: list[tuple[int, int]], activation: str,
                 penultimate_norm: bool) -> None:
        if flat.dtype != np.float32 or flat.size != param_count(shapes):
            raise ValueError(f"actor parameters: expected {param_count(shapes)} float32, got "
                             f"{flat.size} {flat.dtype}")
        self.flat = flat
        self.activation = activation
        self.penultimate_norm = penultimate_norm
        # Transposed weight views (in, out): x @ W.T without a copy per call.
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        offset = 0
        for out_dim, in_dim in shapes:
            w = flat[offset:offset + out_dim * in_dim].reshape(out_dim, in_dim)
            offset += out_dim * in_dim
            self.layers.append((w.T, flat[offset:offset + out_dim]))
            offset += out_dim

    def _activate(self, z: np.ndarray) -> np.ndarray:
        if self.activation == "leaky_relu":
            return np.maximum(z, LEAKY_SLOPE * z)
        if self.activation == "relu":
            return np.maximum(z, 0.0)
        return np.tanh(z)

    def __call__(self, x: np.ndarray) -> list[float]:
        """The output row for one observation ``x`` (float32), as Python floats."""
        *hidden, (w_out_t, b_out) = self.layers
        h = x
        for w_t, b in hidden:
            h = self._activate(h @ w_t + b)
        if self.penultimate_norm:
            norm = float(np.sqrt(np.dot(h, h)))
            if norm >= NORM_EPS:
                h = h / np.float32(norm)
        return (h @ w_out_t + b_out).tolist()
