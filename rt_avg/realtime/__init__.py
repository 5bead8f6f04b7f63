"""The real-time roles without Ray: the env worker, the learner worker, timing arrays.

``actors/`` wraps these in Ray actors; nothing here imports Ray, so the same code can be
driven by threads or processes in tests.
"""


class RealtimeFault(RuntimeError):
    """A real-time run lost an actor; it stopped safely and kept what it had logged."""
