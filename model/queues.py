"""Queues for traditional services (ODD "service queues"): one SimPy process serves every provider's
waiting list each week, oldest first, up to its capacity; waits and utilisation come out of those lists.

Why one process over arrays: ~1,300 providers over 7 years must not add much to a national run, so each week
draws referrals for all providers at once (numpy). Queues start in steady state (`steady_backlog`), so a
difference in waits between two runs is an effect of what differs, not a warm-up drain.
The functions take the service side (model/services.py) as an argument and never import it.
"""

from __future__ import annotations

import numba
import numpy as np

WAIT_BUCKETS = 53  # backlog resolution: weeks waited 0..51, the last bucket holds 52 weeks and over
DAYS_PER_WEEK = 7.0
WEEK_OFFSET = 0.25  # queues run a quarter-day into each week, before the monthly step (at +0.5)


def list_depths(lists: np.ndarray) -> np.ndarray:
    """For each provider (column of `lists`, rows: weeks waited), the oldest week anyone waits in, + 1
    (0: nobody waits): the rows the weekly queue works on."""
    held = lists != 0
    depth = len(lists) - np.argmax(held[::-1], axis=0)
    return np.where(held.any(axis=0), depth, 0)


@numba.njit(cache=True, nogil=True)
def serve_week(lists, depth, arrivals, cap, served_total, waited):  # pragma: no cover (compiled)
    """One week of every provider's waiting list, in place: the list gets a week older, this week's
    arrivals join it, and the provider serves it oldest first up to its capacity.
    lists: (weeks waited, provider); depth: rows each list uses (updated); served_total, waited: out, per
    provider, people served and their weeks waited. Compiled (numba): half the lists hold only the newest
    week, so working provider by provider on the rows in use is far less work than whole-array steps."""
    served = np.empty(lists.shape[0])
    for j in range(lists.shape[1]):
        served_total[j], waited[j] = serve_list(lists, depth, j, arrivals[j], cap[j], served)


@numba.njit(cache=True, nogil=True, inline="always")
def serve_list(lists, depth, j, arrivals, cap, served):  # pragma: no cover (compiled)
    """`serve_week` for provider `j`: returns the people served and their weeks waited (`served`: scratch,
    one row per week waited). Ageing the list a week and serving it oldest first are one pass from the
    oldest row in use down: each row takes the row below it (not yet overwritten) before it is served,
    so the numbers are those of shifting first, then serving; one loop of varying length, not two, per
    provider (the branch mispredictions at the loops' ends were most of the weekly queue's cost)."""
    n_rows = lists.shape[0]
    d = min(depth[j] + 1, n_rows)  # rows in use once the list is a week older
    older = 0.0  # people who have waited longer than row k, served first
    new_depth = 0
    k = d - 1
    if d == n_rows:  # the last bucket keeps everyone who has waited 52 weeks or more
        w = lists[k - 1, j] + lists[k, j]
        older, new_depth = _serve_row(lists, j, k, w, cap, older, new_depth, served)
        k -= 1
    while k > 0:
        older, new_depth = _serve_row(lists, j, k, lists[k - 1, j], cap, older, new_depth, served)
        k -= 1
    older, new_depth = _serve_row(lists, j, 0, arrivals, cap, older, new_depth, served)
    total = served[0]
    wait = 0.0 * served[0]
    for k in range(1, d):
        total += served[k]
        wait += k * served[k]
    depth[j] = new_depth
    return total, wait


@numba.njit(cache=True, nogil=True, inline="always")
def _serve_row(lists, j, k, w, cap, older, new_depth, served):  # pragma: no cover (compiled)
    """Row `k` of list `j`, now holding `w` people, served after the `older` people ahead of them; returns
    the people ahead of the next row and the rows in use (the highest row with anyone left, + 1)."""
    s = min(max(cap - older, 0.0), w)
    rest = w - s
    lists[k, j] = rest
    served[k] = s
    return older + w, max(new_depth, k + 1 if rest != 0.0 else 0)


def weekly(side):
    """The weekly queue process: referrals to every provider of every service arrive in one batch
    (a normal approximation to Poisson, so the number of random draws never depends on the state:
    common random numbers with the counterfactual), and each provider serves its backlog oldest first
    up to its capacity (`serve_week`). One process for all services keeps a national run at ~370 events."""
    env, p, q = side.m.env, side.p, side._q
    n = side.n_services * side.n_slots
    b = side.waiting_list.reshape(WAIT_BUCKETS, n)  # row k: people who have waited k weeks, by provider
    served, waited, arrivals, cap, z = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    sums = tuple(q[k].reshape(n) for k in ("served", "wait", "capacity", "arrivals"))  # views: zeroed in place
    rng, variability = side.rng, p.arrival_variability
    yield env.timeout(WEEK_OFFSET)
    side.n_events += 1
    while True:
        rng.standard_normal(out=z)  # the numbers of rng.standard_normal(n), without a new array each week
        queue_week(b, side.list_depth, side.demand.reshape(n), z, variability, side.open.reshape(n),
                   side.capacity.reshape(n), arrivals, cap, served, waited, *sums)
        yield env.timeout(DAYS_PER_WEEK)
        side.n_events += 1


@numba.njit(cache=True, nogil=True)
def queue_week(lists, depth, lam, z, variability, open_, capacity, arrivals, cap, served, waited,
               served_sum, wait_sum, cap_sum, arrivals_sum):  # pragma: no cover (compiled)
    """One week of the queues: this week's referrals (mean `lam`, normal draws `z`), each open provider's
    capacity, `serve_week`, and the sums the month reads, added in place. The arithmetic of the
    whole-array steps it replaced, operation for operation (sqrt is exactly rounded in both); one pass,
    provider by provider (each provider's numbers depend on its own list only), so each list is read once."""
    scratch = np.empty(lists.shape[0])
    for j in range(len(lam)):
        a = lam[j] + np.sqrt(lam[j]) * variability * z[j]
        a = a if (a >= 0.0 or np.isnan(a)) else 0.0  # np.maximum(a, 0.0)
        c = capacity[j] if open_[j] else 0.0
        arrivals[j], cap[j] = a, c
        s, w = serve_list(lists, depth, j, a, c, scratch)
        served[j], waited[j] = s, w
        served_sum[j] += s
        wait_sum[j] += w
        cap_sum[j] += c
        arrivals_sum[j] += a


@numba.njit(cache=True, nogil=True)
def waiting_now(lists, depth, out):  # pragma: no cover (compiled)
    """People waiting at each provider (`out`), summed week by week over the weeks each list uses: the
    weeks beyond hold nobody, so this is the whole-array sum over weeks (lists.sum(axis=0)) number for number."""
    for j in range(lists.shape[1]):
        total = 0.0
        for k in range(depth[j]):
            total += lists[k, j]
        out[j] = total


def move_list(side, s: int, j: int, dest: int) -> None:
    """A closing provider's waiting list joins another's (same service), keeping the rows in use in step."""
    lists = side.waiting_list  # (weeks waited, service, slot)
    lists[:, s, dest] += lists[:, s, j]
    lists[:, s, j] = 0.0
    col, to = s * side.n_slots + j, s * side.n_slots + dest
    side.list_depth[to] = max(side.list_depth[to], side.list_depth[col])
    side.list_depth[col] = 0


def record(side, t: int) -> None:
    """Queue statistics of the weeks since the last monthly step (none in the first month)."""
    q, r = side._q, side.rec
    queue_stats(q["wait"].reshape(-1), q["served"].reshape(-1), q["capacity"].reshape(-1), q["arrivals"].reshape(-1),
                r["mean_wait"][t].reshape(-1), r["utilisation"][t].reshape(-1))


@numba.njit(cache=True, nogil=True)
def queue_stats(wait, served, capacity, arrivals, mean_wait, utilisation):  # pragma: no cover (compiled)
    """Mean weeks waited by those served and utilisation (NaN where none served / no capacity), then the
    weekly sums start again from zero."""
    for j in range(len(wait)):
        mean_wait[j] = wait[j] / served[j] if served[j] > 0 else np.nan
        utilisation[j] = served[j] / capacity[j] if capacity[j] > 0 else np.nan
        wait[j] = served[j] = capacity[j] = arrivals[j] = 0.0


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
