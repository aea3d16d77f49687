"""A fixed numpy workload that every benchmark times alongside its own figures.

Dividing a timing by this one makes figures from different machines (or a busy and a quiet hour on the
same machine) comparable.
"""

from __future__ import annotations

import os
import time

import numpy as np


def reference_loop_seconds(cpu: bool = False) -> float:
    """Wall seconds of the loop (or CPU seconds with `cpu=True`, which a busy shared machine inflates less)."""
    clock = time.process_time if cpu else time.perf_counter
    rng = np.random.default_rng(0)
    x = rng.random(2_000_000)
    t0 = clock()
    for _ in range(20):
        np.flatnonzero(x[np.arange(len(x)) % 1000] < 0.5)
    return clock() - t0


def load_average() -> list[float]:
    """1-, 5- and 15-minute load averages: how busy the machine was while a benchmark ran."""
    return list(os.getloadavg())
