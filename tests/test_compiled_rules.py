"""The patient side's compiled rules (numba) give exactly the numbers of the numpy rules they replaced (issue 12).

Each test keeps the plain numpy form of a rule as it was, and checks the compiled one against it bit for
bit on random inputs, so a failure names the rule that drifted (whole runs are checked by the frozen
baseline and PINNED_COUNTS_SHA256).
"""

from __future__ import annotations

import numpy as np
import pytest

from model import ccg, planning
from model.assurance import as_full_scale, regional_percentile


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 1000, 4099])
def test_compiled_sum_is_numpys_sum_to_the_last_bit(n):
    rng = np.random.default_rng(n)
    for scale in (1e-3, 1.0, 1e6):
        x = rng.random(n + 5) * scale
        assert ccg._numpy_sum(x, 3, n) == x[3: 3 + n].sum()


def _plain_leaders(order, bounds, readiness, share):
    leader = np.zeros(len(readiness))
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            top = readiness[order[b - max(1, int(round((b - a) * share))):b]]
            leader[order[a:b]] = top.sum() / len(top)
    return leader


def test_regional_leaders_compiled_equal_the_plain_loop():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        region = rng.integers(0, 9, n)
        readiness = rng.random(n)
        members = np.flatnonzero(rng.random(n) < 0.8)
        order = members[np.lexsort((readiness[members], region[members]))]
        bounds = np.searchsorted(region[order], np.arange(10))
        share = float(rng.choice([0.1, 0.25, 0.5, 0.5446, 1.0]))
        assert np.array_equal(ccg._leader_means(order, bounds, readiness, share),
                              _plain_leaders(order, bounds, readiness, share))


def _plain_percentile(per_head, open_, region):
    pct = np.zeros(len(per_head))
    for r in np.unique(region[open_]):
        members = np.flatnonzero(open_ & (region == r))
        if len(members) == 1:
            pct[members] = 0.5
            continue
        order = np.lexsort((members, per_head[members]))
        pct[members[order]] = np.arange(len(members)) / (len(members) - 1)
    return pct


def test_regional_percentile_in_one_sort_equals_the_loop_over_regions():
    rng = np.random.default_rng(2)
    for _ in range(300):
        n = int(rng.integers(1, 250))
        per_head = rng.choice([0.0, 0.1, 0.5], n) if rng.random() < 0.3 else rng.random(n)  # ties too
        open_ = rng.random(n) < rng.random()
        region = rng.integers(0, int(rng.integers(1, 10)), n)
        if rng.random() < 0.5:
            region = np.array([f"R{r}" for r in region])
        assert np.array_equal(regional_percentile(per_head, open_, region), _plain_percentile(per_head, open_, region))


def _plain_estimate(per_head, population, open_, region, agent_scale):
    """`assurance.as_full_scale` as numpy computed it (every region at once with bincount) before it was compiled."""
    o = np.flatnonzero(open_ & (population > 0))
    _, r = np.unique(region[o], return_inverse=True)
    x, pop = per_head[o], population[o]
    count = np.bincount(r)
    rate = (np.bincount(r, x * pop) / np.bincount(r, pop))[r]
    spread = np.bincount(r, (x - (np.bincount(r, x) / count)[r]) ** 2) / count
    lumpy = agent_scale * rate / pop
    between = np.maximum(0.0, spread - np.bincount(r, lumpy) / count)[r]
    weight = np.divide(between, between + lumpy, out=np.ones(len(o)), where=between + lumpy > 0)
    out = per_head.copy()
    out[o] = rate + weight * (x - rate)
    return out


def test_coarse_ranking_estimate_compiled_equals_the_numpy_rule():
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(1, 260))
        region = rng.integers(0, int(rng.integers(1, 9)), n)
        population = np.where(rng.random(n) < 0.05, 0.0, np.round(np.exp(rng.uniform(10, 14, n))))
        open_ = rng.random(n) < rng.uniform(0.3, 1.0)
        scale = int(rng.choice([2, 10, 50, 100]))
        per_head = scale * rng.poisson(rng.uniform(1e-4, 1e-3) * population / scale) / np.where(population > 0,
                                                                                                population, 1)
        if rng.random() < 0.15:
            per_head[:] = 0.0  # nobody anywhere: no spread at all
        got = as_full_scale(per_head, population, open_, region, scale)
        assert got.tobytes() == _plain_estimate(per_head, population, open_, region, scale).tobytes()


def _plain_uniforms(idx, t, key):
    with np.errstate(over="ignore"):
        z = np.asarray(idx, np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(t) * np.uint64(0xD1B54A32D192ED03) + key
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def test_hashed_planning_uniforms_equal_the_numpy_hash():
    rng = np.random.default_rng(3)
    for _ in range(50):
        idx = np.sort(rng.choice(10**7, 500, replace=False))
        t, key = int(rng.integers(0, 400)), np.uint64(rng.integers(0, 2**63))
        u = planning._hashed_uniforms(idx, np.uint64(t), key)
        assert np.array_equal(u, _plain_uniforms(idx, t, key))
        assert ((u >= 0) & (u < 1)).all()


def _people_arrays(rng, n, n_groups=60):
    return dict(group=rng.integers(0, n_groups, n).astype(np.intp), flags=rng.integers(0, 256, n).astype(np.uint8),
                u_type=rng.random(n).astype(np.float32), budget=rng.integers(0, 200_000, n).astype(np.int32))


def test_budget_types_compiled_equal_the_numpy_rule():
    from model.people import CAPACITY, CARER, DIRECT_PAYMENT, NOTIONAL, THIRD_PARTY
    rng = np.random.default_rng(4)
    a = _people_arrays(rng, 2_000)
    dp = rng.random(10) < 0.6
    idx = np.sort(rng.choice(2_000, 700, replace=False))
    for pref, unsup, third, pwb in [(0.8, 0.67, 0.34, 0.02), (1.0, 1.0, 0.0, 1.0), (0.0, 0.5, 0.5, 0.5)]:
        flags, cohort, u = a["flags"][idx], a["group"][idx] % 6, a["u_type"][idx].astype(float)
        supported = (flags & (CARER | CAPACITY)).astype(bool)
        p_dp = np.where(dp[a["group"][idx] // 6] & (cohort != 5), pref * np.where(supported, 1.0, unsup), 0.0)
        rest = np.divide(u - p_dp, 1 - p_dp, out=np.zeros_like(u), where=p_dp < 1)
        th = np.where(cohort == 5, pwb, third)
        plain = np.where(u < p_dp, DIRECT_PAYMENT, np.where(rest < th, THIRD_PARTY, NOTIONAL))
        got = planning._budget_types(idx, a["flags"], a["group"], a["u_type"], dp, 6, 5, CARER | CAPACITY, pref, unsup,
                                     third, pwb)
        assert np.array_equal(got, plain)


def test_leaving_reasons_compiled_equal_the_numpy_rule():
    from model import population
    from model.people import DIED, FAST_TRACK, LOST_ELIGIBILITY, N_STATES, RECOVERED, holding
    rng = np.random.default_rng(5)
    a = _people_arrays(rng, 3_000)
    state = rng.integers(0, N_STATES, 3_000).astype(np.int8)
    idx = np.sort(rng.choice(3_000, 900, replace=False))
    u = rng.random(len(idx))
    cohort, fast = a["group"][idx] % 6, (a["flags"][idx] & FAST_TRACK).astype(bool)
    death = np.where(fast, 1.0, np.where(cohort == population.CHC, 0.6, 0.1))
    plain = np.where(u < death, DIED, np.where(u < death + (1 - death) * 0.65, RECOVERED, LOST_ELIGIBILITY))
    got, held = population._leaving_reasons(idx, state, a["flags"], a["group"], 6, u, 0.6, 0.1, 0.65)
    assert np.array_equal(got, plain)
    assert set(np.unique(got)) <= {DIED, RECOVERED, LOST_ELIGIBILITY}
    assert np.array_equal(held, idx[holding(state[idx])])


def _plain_successor(t, index, preds, mix):
    rows = np.array([i for i, _ in preds])
    w = np.array([t.population[i] * s for i, s in preds])
    t.population[index] = w.sum()
    lead = rows[np.lexsort((rows, -t.readiness[rows]))[0]]
    for name in ("readiness", "activeness", "restrictiveness", "assurance", "redesignating"):
        arr = getattr(t, name)
        arr[index] = np.average(arr[rows], weights=w) if mix else arr[lead]
    t.pressure[index] = np.average(t.pressure[rows], weights=w)
    t.direct_payments[index] = (np.average(t.direct_payments[rows], weights=w) >= 0.5) if mix else t.direct_payments[lead]
    t.pilot[index] = t.pilot[rows].any()
    t.going_further_faster[index] = t.going_further_faster[rows].any()
    t.ipc[index] = t.ipc[rows].any()
    t.ipc_from[index] = t.ipc_from[rows].min()
    t.pwb_switch_month[index] = t.pwb_switch_month[rows].min()
    t.open[index] = True


def _random_table(rng, n):
    t = ccg.CCGTable(n)
    for name in ccg.FLOAT_FIELDS:
        setattr(t, name, rng.random(n))
    t.readiness[rng.random(n) < 0.2] = 0.5  # ties for the most advanced
    for name in ccg.BOOL_FIELDS:
        setattr(t, name, rng.random(n) < 0.4)
    t.ipc_from = np.where(rng.random(n) < 0.5, np.inf, rng.integers(0, 90, n).astype(float))
    return t


@pytest.mark.parametrize("policy", ["population_weighted", "most_advanced"])
def test_compiled_successor_equals_the_plain_rule(policy):
    """A merged CCG's policy (population-weighted means as np.average computes them, or the most ready
    predecessor's) is the same to the last bit, including a CCG that continues and takes others in."""
    from types import SimpleNamespace
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = 40
        a, b = _random_table(np.random.default_rng(int(rng.integers(1 << 30))), n), None
        b = ccg.CCGTable(n)
        for name in (*ccg.FLOAT_FIELDS, *ccg.BOOL_FIELDS, "ipc_from"):
            setattr(b, name, getattr(a, name).copy())
        index = int(rng.integers(0, n))
        rows = rng.choice(n, int(rng.integers(1, 12)), replace=False)
        preds = [(int(r), float(s)) for r, s in zip(rows, rng.random(len(rows)))]
        if rng.random() < 0.3:
            preds.append((index, 1.0))
        _plain_successor(a, index, preds, policy != "most_advanced")
        m = SimpleNamespace(ccgs=b, p=SimpleNamespace(merger_policy=policy))
        ccg.successor(m, index, [p for p in preds])
        for name in (*ccg.FLOAT_FIELDS, *ccg.BOOL_FIELDS, "ipc_from"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_compiled_steps_stay_in_bounds(tmp_path):
    """numba does not check array bounds (a wrong index would read or write other memory, silently): a
    coarse run to 2030 with the service side and its counterfactual, which goes through every compiled step
    (mergers, re-designation, wheelchair reviews, compaction, closures), compiled afresh with bounds checks
    on, raises no IndexError and passes the monthly debug checks."""
    import os
    import subprocess
    import sys

    code = ("import datetime as dt\nfrom model.scenario import load_scenario\nfrom model.sim import Sim\n"
            "s = load_scenario('cuts_fund_phbs').with_(agent_scale=400, until=dt.date(2030, 3, 31))\n"
            "r = Sim(s).run(counterfactual=True)\nprint('holders', int(r.national['holders'].iloc[-1]))\n")
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path), "PHB_CHECKS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split("holders")[1]) > 0
