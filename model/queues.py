"""Queues for traditional services (ODD "service queues"): one SimPy process serves every provider's
waiting list each week, oldest first, up to its capacity; waits and utilisation come out of those lists.

Why one process over arrays: ~1,300 providers over 7 years must not add much to a national run, so each week
draws referrals for all providers at once (numpy). Queues start in steady state (`steady_backlog`), so a
difference in waits between two runs is an effect of what differs, not a warm-up drain.
The functions take the service side (model/services.py) as an argument and never import it.
"""

from __future__ import annotations

import numpy as np

WAIT_BUCKETS = 53  # backlog resolution: weeks waited 0..51, the last bucket holds 52 weeks and over
DAYS_PER_WEEK = 7.0
WEEK_OFFSET = 0.25  # queues run a quarter-day into each week, before the monthly step (at +0.5)


def weekly(side):
    """The weekly queue process: referrals to every provider of every service arrive in one batch
    (a normal approximation to Poisson, so the number of random draws never depends on the state:
    common random numbers with the counterfactual), and each provider serves its backlog oldest first
    up to its capacity. One process for all services keeps a national run at ~370 events."""
    env, p, q = side.m.env, side.p, side._q
    n = side.n_services * side.n_slots
    b = side.waiting_list.reshape(WAIT_BUCKETS, n)  # row k: people who have waited k weeks, by provider
    yield env.timeout(WEEK_OFFSET)
    side.n_events += 1
    depth = WAIT_BUCKETS  # buckets that may hold someone: only those are worked on each week
    while True:
        lam = side.demand.ravel()
        z = side.rng.standard_normal(n)
        arrivals = np.maximum(lam + np.sqrt(lam) * p.arrival_variability * z, 0.0)
        # the week's work is done bucket-major (one column per provider), so every sum over the list runs
        # over contiguous memory: ~4x faster than per-provider rows; ageing by a week is a shift by one row
        full = depth == WAIT_BUCKETS
        depth = depth if full else depth + 1
        w = np.empty((depth, n))
        w[0] = arrivals
        w[1:depth] = b[:depth - 1]
        if full:
            w[-1] += b[-1]
        cap = np.where(side.open, side.capacity, 0.0).ravel()
        served = np.empty_like(w)  # first: people who have waited longer than each bucket (served first)
        served[-1] = 0.0
        for k in range(depth - 1, 0, -1):  # (faster than np.cumsum over axis 0, which runs column by column)
            np.add(served[k], w[k], out=served[k - 1])
        np.subtract(cap, served, out=served)  # then: what each bucket gets, oldest first, up to capacity
        np.maximum(served, 0.0, out=served)
        np.minimum(served, w, out=served)
        w -= served
        b[:depth] = w
        served_depth = depth
        while depth > 1 and not w[depth - 1].any():  # the oldest bucket anyone is still in
            depth -= 1
        q["served"] += served.sum(axis=0).reshape(side.demand.shape)
        q["wait"] += (side._ages[:served_depth] @ served).reshape(side.demand.shape)
        q["capacity"] += cap.reshape(side.demand.shape)
        q["arrivals"] += arrivals.reshape(side.demand.shape)
        yield env.timeout(DAYS_PER_WEEK)
        side.n_events += 1


def record(side, t: int) -> None:
    """Queue statistics of the weeks since the last monthly step (none in the first month)."""
    q, r = side._q, side.rec
    r["mean_wait"][t] = np.divide(q["wait"], q["served"], out=np.full(q["wait"].shape, np.nan),
                                  where=q["served"] > 0)
    r["utilisation"][t] = np.divide(q["served"], q["capacity"], out=np.full(q["wait"].shape, np.nan),
                                    where=q["capacity"] > 0)
    for v in q.values():
        v[:] = 0.0


def steady_backlog(demand: np.ndarray, capacity: np.ndarray, variability: float) -> np.ndarray:
    """The waiting list a provider has in the long run, so queues start in steady state (no warm-up drain).

    Weekly arrivals have mean λ and variance v²λ; the provider serves up to c > λ a week. The backlog is then
    a random walk with drift λ − c reflected at zero, whose stationary mean is v²λ / (2(c − λ)) people
    (a reflected Brownian motion). It is laid out oldest-first, a week's arrivals to a bucket."""
    spare = np.maximum(capacity - demand, 1e-9)
    mean = np.minimum(variability ** 2 * demand / (2.0 * spare), demand * (WAIT_BUCKETS - 1))
    weeks = np.divide(mean, demand, out=np.zeros_like(mean), where=demand > 0)
    edges = np.arange(WAIT_BUCKETS, dtype=float)
    fill = np.clip(weeks[..., None] - edges, 0.0, 1.0)  # share of a week's arrivals still waiting, by bucket
    return fill * demand[..., None]
