"""The real-time roles without Ray: the env worker, the learner worker, pacing, timing.

``actors/`` wraps these in Ray actors; nothing here imports Ray, so the same code can be
driven by threads or processes in tests.
"""
