"""Running one training: the inline runner and the pieces every mode shares.

- the loop halves: ``env_loop`` (observe, act, step, reset), ``learn_step`` (one learning
  step, the same in every mode);
- where a run's record goes: ``sink`` (run log, tracker, checkpoints), ``tracking/``
  (Weights & Biases or none), ``metrics``, ``progress``;
- the run directory on disk: ``run_dir`` (the lossless record and its one-writer lock),
  ``checkpoint`` and ``checkpoint_files``, ``resume``, ``restart``, ``trust`` (what opening a
  run directory may import), ``user_paths``;
- ``inline`` (one process, no Ray), ``evaluate``, ``shutdown`` (Ctrl-C and SIGTERM).

The real-time modes (``rt_avg.realtime``, ``rt_avg.actors``) use the same halves and sink.
"""
