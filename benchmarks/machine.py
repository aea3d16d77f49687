"""A fixed numpy workload that every benchmark times alongside its own figures.

Dividing a timing by this one makes figures from different machines (or a busy and a quiet hour on the
same machine) comparable.
"""

from __future__ import annotations

import time

import numpy as np


def reference_loop_seconds() -> float:
    rng = np.random.default_rng(0)
    x = rng.random(2_000_000)
    t0 = time.perf_counter()
    for _ in range(20):
        np.flatnonzero(x[np.arange(len(x)) % 1000] < 0.5)
    return time.perf_counter() - t0
