"""Sweeps and studies (tooling beside the library; it may use Ray, the library may not).

- :mod:`~rt_avg.sweeps.spec`: sweep files, parsed by the run-config machinery, expanded
  into trials (no Ray);
- :mod:`~rt_avg.sweeps.tune`: runs the trials with Ray Tune, locally or on a cluster,
  resumable (``rt-avg sweep``).

Importing this package imports neither Ray nor :mod:`rt_avg.actors`; only ``tune`` does.
"""
