"""Session-wide test settings.

Kernels use one dtype (float64, C-contiguous) and ``cache=True``, so each is
compiled at most once per session (and loaded from the on-disk cache after the
first run). Hypothesis runs derandomized so that the suite is reproducible.
"""

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "slth",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("slth")


@pytest.fixture(scope="module")
def lab_one_thread():
    """torch and numba on one thread for a module's lab tests, restored afterwards.

    A module opts in with ``pytestmark = pytest.mark.usefixtures("lab_one_thread")``."""
    from slth.lab import set_threads

    previous = set_threads(1)
    yield
    set_threads(previous)
