"""The service side's newer compiled passes give exactly the numbers of the code they replaced, bit for bit.

Whole runs are checked by the pinned digests; these say which pass drifted if one does.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from model.outcomes import HOLD_FIRST, HOLD_LAST, holders_now
from model.people import HOLDING
from model.queues import WAIT_BUCKETS, list_depths, serve_week
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.service_tables import served_and_waited
from model.services import destination


def _two_pass_week(lists, depth, arrivals, cap):
    """`serve_week` as it was: age every list a week (shift), then serve it oldest first, then sum what was
    served and the weeks waited from the newest row up."""
    n_rows = lists.shape[0]
    served_total, waited = np.empty(lists.shape[1]), np.empty(lists.shape[1])
    for j in range(lists.shape[1]):
        d = min(depth[j] + 1, n_rows)
        if d == n_rows:
            lists[n_rows - 1, j] = lists[n_rows - 2, j] + lists[n_rows - 1, j]
        for k in range(n_rows - 2 if d == n_rows else d - 1, 0, -1):
            lists[k, j] = lists[k - 1, j]
        lists[0, j] = arrivals[j]
        older, new_depth, served = 0.0, 0, np.zeros(n_rows)
        for k in range(d - 1, -1, -1):
            w = lists[k, j]
            served[k] = min(max(cap[j] - older, 0.0), w)
            older = older + w
            lists[k, j] = w - served[k]
            if new_depth == 0 and lists[k, j] != 0.0:
                new_depth = k + 1
        total, wait = served[0], 0.0 * served[0]
        for k in range(1, d):
            total += served[k]
            wait += k * served[k]
        depth[j], served_total[j], waited[j] = new_depth, total, wait
    return served_total, waited


def test_one_pass_week_is_shift_then_serve():
    """Lists of every depth (empty, a week, over a year), week after week: lists, rows in use, people served
    and weeks waited all equal to the two-pass week's."""
    rng = np.random.default_rng(5)
    n = 60
    plain = np.zeros((WAIT_BUCKETS, n))
    for j, depth in enumerate(rng.integers(0, WAIT_BUCKETS + 1, n)):
        plain[:depth, j] = rng.random(depth) * rng.choice([0.1, 5.0, 50.0])
    fast = plain.copy()
    d_plain, d_fast = list_depths(plain), list_depths(fast)
    assert d_fast.max() == WAIT_BUCKETS and (d_fast == 0).any()
    served, waited = np.empty(n), np.empty(n)
    for _ in range(30):
        arrivals = np.maximum(rng.standard_normal(n) * 3 + 2, 0.0)
        cap = rng.random(n) * rng.choice([0.5, 5.0, 50.0]) * (rng.random(n) < 0.9)
        want = _two_pass_week(plain, d_plain, arrivals, cap)
        serve_week(fast, d_fast, arrivals, cap, served, waited)
        assert fast.tobytes() == plain.tobytes() and np.array_equal(d_fast, d_plain)
        assert served.tobytes() == want[0].tobytes() and waited.tobytes() == want[1].tobytes()


def test_holders_now_are_people_where():
    """Every int8 state, and a run's people: the indices of People.where(*HOLDING), dtype and order."""
    states = np.arange(-128, 128, dtype=np.int8).repeat(3)
    np.random.default_rng(1).shuffle(states)
    for n in (0, 1, 100, len(states)):
        want = np.flatnonzero((states[:n] >= HOLD_FIRST) & (states[:n] <= HOLD_LAST))
        got = holders_now(states, n, HOLD_FIRST, HOLD_LAST)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    m = RolloutModel(load_scenario("baseline").with_(agent_scale=50, until=dt.date(2016, 3, 31))).run()
    want, got = m.people.where(*HOLDING), holders_now(m.people.state, m.people.n, HOLD_FIRST, HOLD_LAST)
    assert len(want) > 0 and got.dtype == want.dtype and np.array_equal(got, want)


def test_destination_is_argmax_over_the_region_then_england():
    """The code `destination` replaced: np.argmax of spare capacity over the open slots of the closing
    provider's region, else all open slots; ties, NaN and infinities included."""
    rng = np.random.default_rng(2)
    names = np.array(["North", "South", "East", "West"], dtype=object)
    for trial in range(3000):
        n, n_orgs = int(rng.integers(1, 30)), 12
        org_region = names[rng.integers(0, len(names), n_orgs)]
        code = np.unique(org_region, return_inverse=True)[1].astype(np.int64)
        open_, home = rng.random(n) < rng.uniform(0, 1), rng.integers(0, n_orgs, n)
        j = int(rng.integers(0, n))
        open_[j] = False
        capacity, demand = np.round(rng.random(n) * 3, 1), np.round(rng.random(n) * 3, 1)  # ties
        if trial % 4 == 0:
            demand[rng.integers(0, n)] = np.nan
        if trial % 9 == 0:
            capacity[rng.integers(0, n)] = np.inf
        cand = np.flatnonzero(open_)
        local = cand[org_region[home[cand]] == org_region[home[j]]]
        pool = local if len(local) else cand
        with np.errstate(invalid="ignore"):
            want = int(pool[np.argmax(capacity[pool] - demand[pool])]) if len(pool) else -1
        assert destination(open_, home, code, capacity, demand, j) == want


def test_served_and_waited_are_nan_to_num_products():
    rng = np.random.default_rng(4)
    shape = (30, 6, 40)
    util, wait, cap = rng.random(shape) * 2, rng.exponential(3, shape), rng.exponential(10, shape)
    for a in (util, wait, cap):
        m = rng.random(shape)
        a[m < 0.1], a[(m > 0.1) & (m < 0.12)], a[(m > 0.12) & (m < 0.14)] = np.nan, np.inf, -np.inf
        a[(m > 0.14) & (m < 0.16)] = -0.0
    with np.errstate(invalid="ignore", over="ignore"):
        served = np.nan_to_num(util) * cap
        waited = np.nan_to_num(wait) * served
        got_s, got_w = np.empty(shape), np.empty(shape)
        served_and_waited(util.reshape(-1), wait.reshape(-1), cap.reshape(-1), np.finfo(float).max,
                          got_s.reshape(-1), got_w.reshape(-1))
    assert got_s.tobytes() == served.tobytes() and got_w.tobytes() == waited.tobytes()
