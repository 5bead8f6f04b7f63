"""Experiment tracking (tooling beside the library).

- :mod:`~rt_avg.run.tracking.tracker`: the :class:`Tracker` hooks the logging process calls,
  and :func:`make_tracker`;
- :mod:`~rt_avg.run.tracking.wandb_tracker`: Weights & Biases, online or offline, never
  stopping a run;
- :mod:`~rt_avg.run.tracking.wandb_reader`: reads a wandb run file back without wandb's
  servers.
"""
