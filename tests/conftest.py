"""Session-wide test settings.

Kernels use one dtype (float64, C-contiguous) and ``cache=True``, so each is
compiled at most once per session (and loaded from the on-disk cache after the
first run). Hypothesis runs derandomized so that the suite is reproducible.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "slth",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("slth")
