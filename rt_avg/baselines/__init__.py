"""Batch baselines (``agent.algo``: sac, td3, ppo) through Stable-Baselines3 (the
``baselines`` extra).

They are not per-transition learners, so they do not go through :mod:`rt_avg.core`'s
``Learner`` interface: :func:`rt_avg.baselines.sb3.train_sb3` runs them inline on the same
envs and seeds and writes the same run directory.  Which runner a config gets is chosen in
:func:`rt_avg.api.inline_runner`.
"""
