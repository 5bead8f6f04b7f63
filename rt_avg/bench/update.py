"""``rt-avg bench update``: time acting and updating on one torch thread.

Acting and updating are timed in separate loops, as they run in separate processes in
the real-time modes (each with its own core and cache); the interleaved figure, as in the
inline runner, is reported too.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from rt_avg import algos
from rt_avg.core.config import Config
from rt_avg.core import Transition
from rt_avg.core.environments import make_env
from rt_avg.nn.policy import env_dims
from rt_avg.run.metrics import percentiles_us


def bench_update(cfg: Config, iterations: int = 5000, warmup: int = 500) -> dict:
    """Median and p99 (microseconds) of Policy.act and AVGLearner.update."""
    torch.set_num_threads(1)
    env = make_env(cfg.env)
    obs_dim, act_dim = env_dims(env)
    algo = algos.get(cfg.agent.algo)
    learner = algo.make_learner(cfg, obs_dim, act_dim)
    policy = algo.make_policy(cfg, env, learner)
    rng = np.random.default_rng(0)
    # Real observations from the env, so the networks see realistic inputs.
    raw, _ = env.reset(seed=0)
    obs = [policy.observe(raw)]
    for _ in range(255):
        raw, _, term, trunc, _ = env.step(env.action_space.sample())
        obs.append(policy.observe(raw))
        if term or trunc:
            raw, _ = env.reset()
    env.close()
    transitions = []
    for i in range(len(obs) - 1):
        eps = rng.standard_normal(act_dim).astype(np.float32)
        transitions.append(Transition(obs[i], np.tanh(eps), eps, float(rng.standard_normal()),
                                      obs[i + 1], False, False))

    def timed(fn, n: int) -> np.ndarray:
        samples = np.empty(n, dtype=np.int64)
        for i in range(n):
            t0 = time.perf_counter_ns()
            fn(i)
            samples[i] = time.perf_counter_ns() - t0
        return samples

    n_t = len(transitions)
    act = lambda i: policy.act(obs[i % len(obs)])  # noqa: E731
    upd = lambda i: learner.update(transitions[i % n_t])  # noqa: E731
    timed(act, warmup), timed(upd, warmup)
    act_ns, upd_ns = timed(act, iterations), timed(upd, iterations)
    both_ns = timed(lambda i: (act(i), upd(i)), iterations // 2)
    out = {"env": cfg.env.id, "obs_dim": obs_dim, "act_dim": act_dim,
           "policy_params": int(learner.policy_params().numel()),
           "hidden_sizes": list(cfg.agent.hidden_sizes), "iterations": iterations,
           "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    out.update(percentiles_us(act_ns, "act"))
    out.update(percentiles_us(upd_ns, "update"))
    out.update(percentiles_us(both_ns, "act_plus_update"))
    return out
