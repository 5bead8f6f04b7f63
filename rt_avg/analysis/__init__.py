"""Analysis of run directories (tooling; the library does not import it).

- :mod:`~rt_avg.analysis.runs`: the loader of run directories and the grouping rule
  (runs of one config, seed aside);
- :mod:`~rt_avg.analysis.stats`: learning curve, final return, AUC, bootstrap intervals;
- :mod:`~rt_avg.analysis.summary`: per-group statistics and tables;
- :mod:`~rt_avg.analysis.curves`, :mod:`~rt_avg.analysis.timing`: what the figures show;
- :mod:`~rt_avg.analysis.plots`: the figures (matplotlib, Agg);
- :mod:`~rt_avg.analysis.report`, :mod:`~rt_avg.analysis.sweep_summary`: the
  ``rt-avg report`` and ``rt-avg sweep-summary`` commands.
"""
