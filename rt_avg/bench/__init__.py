"""Benchmarks behind ``rt-avg bench``: each prints medians and p99 as one JSON object.

Tooling, not library: modules here may start Ray (``modes``, ``ray_call``, ``device``).

| module | command | what |
| --- | --- | --- |
| ``update`` | ``bench update`` | ``Policy.act`` and one learner update on one torch thread |
| ``channel`` | ``bench channel`` | shared-memory channel latency next to a plain copy |
| ``ray_call`` | ``bench channel`` | the Ray baselines: an actor call and the mailbox |
| ``modes`` | ``bench modes`` | async vs sequential with a slow learner; the dt = 0 loop rate |
| ``device`` | ``bench device`` | a robot computer's check: latencies and footprint vs ``dt_s`` |
"""
