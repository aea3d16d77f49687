"""The patient side's fast paths give exactly the numbers of the plain ones they replaced (issue 12).

A speed change must never change a result: the frozen baseline and PINNED_COUNTS_SHA256 check whole runs;
these check each fast path against the plain computation, so a failure says which one drifted.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model import offers
from model import parameters as reg
from model import people as P
from model.counting import year_to_date
from model.people import HOLDING, LEFT, N_STATES, State
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.sim import Sim


def test_state_ints_are_the_enum():
    for s in State:
        assert getattr(P, s.name) == int(s)
    rows = np.arange(N_STATES)
    assert rows[P.HOLDING_ROWS].tolist() == [int(s) for s in HOLDING]
    assert rows[P.IN_SCOPE].tolist() == list(range(State.ELIGIBLE, State.DECLINED + 1))
    assert (P.holding(rows) == np.isin(rows, HOLDING)).all()


def test_each_person_leaves_in_the_month_drawn_at_entry_and_no_one_else_does():
    """Leavers are found by scanning the exit months: everyone whose month it is leaves, no one else."""
    seen = []

    def check(m):
        ppl, t = m.people, m.month
        left_now = np.flatnonzero(np.isin(ppl.state[: ppl.n], LEFT) & (ppl.since[: ppl.n] == t))
        due = np.flatnonzero(ppl.exit[: ppl.n] == t)
        assert np.array_equal(left_now, due), t
        assert (ppl.exit[: ppl.n][~np.isin(ppl.state[: ppl.n], LEFT)] > t).all(), t
        seen.append(len(due))

    s = load_scenario("baseline").with_(agent_scale=200, until=dt.date(2016, 3, 31))
    RolloutModel(s, services=False, check=check).run()
    assert sum(seen) > 1000  # the check saw real leavers, through compactions


def test_take_up_of_a_subset_is_the_same_bit_for_bit():
    """The decisions read the take-up chances support planning computed for everyone offered, and planning
    keeps those of people who queue (not wheelchair users): a person's chance must not depend on who else
    is asked about, bit for bit."""
    s = load_scenario("baseline").with_(agent_scale=100, until=dt.date(2018, 3, 31))
    m = RolloutModel(s, services=False).run()
    idx = m.people.where(State.ELIGIBLE, State.DECLINED)[::7]
    assert len(idx) > 500
    whole = offers.take_up(m, idx)
    keep = m.people.cohort_of(idx) != reg.COHORTS.index("wheelchair")
    np.testing.assert_array_equal(whole[keep], offers.take_up(m, idx[keep]))  # exact, not approximate


def test_decisions_read_the_chances_planning_computed_that_month_and_only_those():
    s = load_scenario("baseline").with_(agent_scale=200, until=dt.date(2016, 3, 31))
    m = RolloutModel(s, services=False).run()
    idx = m.people.where(State.ELIGIBLE)[:50]
    fake = np.full(len(idx), 0.5)
    m.cache["offered_chances"] = (m.month, idx.copy(), fake)
    assert offers._chances(m, idx) is fake
    assert "offered_chances" not in m.cache  # read once
    m.cache["offered_chances"] = (m.month - 1, idx.copy(), fake)  # last month's: not these
    np.testing.assert_array_equal(offers._chances(m, idx), offers.take_up(m, idx))


def _plain_tables(m, scale):
    """The tables as build_results made them before issue 12: every cell scaled to people first, then summed."""
    rec, T, n_orgs, k = m.recorder, len(m.months), m.n_orgs, len(reg.COHORTS)
    counts = rec.counts.reshape(T, -1, n_orgs, k).astype(np.int64) * scale
    holding = counts[:, list(HOLDING)].sum(axis=1)
    in_scope = counts[:, State.ELIGIBLE:State.DECLINED + 1].sum(axis=1)

    def flow(arr):
        return arr.reshape(T, n_orgs, k).astype(np.float64) * scale

    starts, received = flow(rec.starts), year_to_date(flow(rec.received), rec.fy)
    waits, planned = flow(rec.wait_months) / scale, flow(rec.planned)
    spend = rec.spend.reshape(T, n_orgs, k) / 100.0 * scale
    national = {"holders": holding.sum(axis=(1, 2)), "eligible_population": in_scope.sum(axis=(1, 2)),
                "new_holders": starts.sum(axis=(1, 2)), "received_ytd": received.sum(axis=(1, 2)),
                "issued_ytd": year_to_date(starts, rec.fy).sum(axis=(1, 2)), "spend_gbp": spend.sum(axis=(1, 2)),
                "mean_wait_months": np.divide(waits.sum(axis=(1, 2)), planned.sum(axis=(1, 2)),
                                              out=np.full(T, np.nan), where=planned.sum(axis=(1, 2)) > 0)}
    cohort = {"holders": holding, "eligible_population": in_scope, "new_holders": starts,
              "waiting_for_support_plan": counts[:, State.PLANNING], "received_ytd": received,
              "issued_ytd": year_to_date(starts, rec.fy), "spend_gbp": spend}
    by_cohort = {c: np.concatenate([v[:, :, j].sum(axis=1) for j in range(k)]) for c, v in cohort.items()}
    by_org = {"holders": holding.sum(axis=2), "new_holders": starts.sum(axis=2), "received_ytd": received.sum(axis=2),
              "spend_gbp": spend.sum(axis=2), "direct_payment": counts[:, State.DIRECT_PAYMENT].sum(axis=2)}
    return national, by_cohort, by_org


@pytest.mark.parametrize("scale", [10, 100])
def test_results_summed_before_scaling_equal_scaling_every_cell_first(scale):
    s = load_scenario("baseline").with_(agent_scale=scale)
    if scale == 10:
        s = s.with_(until=dt.date(2017, 3, 31))
    sim = Sim(s)
    res = sim.run(services=False)
    national, by_cohort, by_org = _plain_tables(sim.model, scale)
    for col, v in national.items():
        np.testing.assert_array_equal(res.national[col].to_numpy(), v, err_msg=col)
        assert res.national[col].dtype == v.dtype, col
    for col, v in by_cohort.items():
        np.testing.assert_array_equal(res.by_cohort[col].to_numpy(), v, err_msg=col)
        assert res.by_cohort[col].dtype == v.dtype, col
    by_ccg = res.by_ccg
    t = pd.Index(pd.to_datetime(pd.Series(sim.model.months))).get_indexer(by_ccg["month"])
    o = pd.Index(sim.model.org_codes).get_indexer(by_ccg["code"])
    for col, v in by_org.items():
        np.testing.assert_array_equal(by_ccg[col].to_numpy(), v[t, o], err_msg=col)
    assert res.scenario_yaml == s.to_yaml()  # written when first asked for


def test_matching_rule_with_ccg_terms_combined_first_is_the_same_bit_for_bit():
    """Outcomes and take-up combine each CCG's restriction, known-budget and support terms once per CCG and
    look them up per person: exactly the numbers of looking each input up per person first."""
    p = load_scenario("baseline").parameters
    rng = np.random.default_rng(7)
    n_orgs, n = 30, 5_000
    org = rng.integers(0, n_orgs, n)
    restrict, known, support = rng.random(n_orgs), rng.random(n_orgs), rng.random(n_orgs)
    ratio, ctl, helped, spend = rng.random(n) * 3, rng.random(n), rng.random(n) < 0.5, rng.random(n)
    from model.outcomes import matching_rule

    plain = matching_rule(p, ratio, restrict[org], known[org], support[org], ctl, helped, spend)
    combined = matching_rule(p, ratio, restrict, known, support, ctl, helped, spend, org=org)
    assert np.array_equal(plain, combined)
    assert not np.array_equal(plain, matching_rule(p, ratio, restrict, known, support[::-1], ctl, helped, spend,
                                                   org=org))  # the CCG terms are really read


def test_outcome_sums_equal_the_plain_per_holder_sums():
    """`Outcomes.month` derives the cash and notional sums from the budget sums by way of holding, and the
    services' cash by group from the same holders: equal to summing each from scratch."""
    s = load_scenario("baseline").model_copy(update={"agent_scale": 50, "until": dt.date(2017, 3, 31)})
    m = RolloutModel(s)
    m.run()
    o, ppl, t = m.services.outcomes, m.people, m.month
    idx = ppl.where(*HOLDING)
    kind = ppl.state[idx].astype(int) - int(State.NOTIONAL)
    budget = ppl.budget[idx].astype(float)
    key = ppl.cohort_of(idx).astype(int) * 3 + kind
    for name, sel in (("cash_pence", kind > 0), ("notional_pence", kind == 0)):
        plain = np.bincount(key, weights=np.where(sel, budget, 0.0), minlength=o.rec[name][t].size) * s.agent_scale
        assert np.array_equal(o.rec[name][t].ravel(), plain), name
    cash = idx[kind > 0]
    assert np.array_equal(o.cash_by_group, np.bincount(ppl.group[cash], weights=ppl.budget[cash], minlength=m.n_groups))
    assert o.rec["cash_pence"][t].sum() > 0 and o.rec["notional_pence"][t].sum() > 0


def _plain_week(b: np.ndarray, arrivals: np.ndarray, cap: np.ndarray):
    """The weekly queue as whole-array steps over all 53 weeks of every list (the code `serve_week` replaced)."""
    from model.queues import WAIT_BUCKETS

    w = np.empty_like(b)
    w[0] = arrivals
    w[1:] = b[:-1]
    w[-1] += b[-1]
    older = np.empty_like(w)
    older[-1] = 0.0
    for k in range(WAIT_BUCKETS - 1, 0, -1):
        np.add(older[k], w[k], out=older[k - 1])
    served = np.minimum(np.maximum(cap - older, 0.0), w)
    return w - served, served.sum(axis=0), np.arange(WAIT_BUCKETS, dtype=float) @ served


def test_compiled_weekly_queue_is_the_whole_array_queue():
    """`serve_week` works provider by provider on the weeks in use: the same lists and people served, bit for
    bit, as the whole-array steps, week after week, for short, long (52+ weeks) and empty lists, and after a
    closing provider's list joins another's; weeks waited agree to rounding (summed in another order)."""
    from model.queues import WAIT_BUCKETS, list_depths, serve_week

    rng = np.random.default_rng(11)
    n = 40
    plain = np.zeros((WAIT_BUCKETS, n))
    plain[:3] = rng.random((3, n)) * 5
    plain[:, :4] = rng.random((WAIT_BUCKETS, 4)) * 50  # over capacity for a year and more
    plain[:, 4:6] = 0.0
    fast = plain.copy()
    depth = list_depths(fast)
    assert depth.max() == WAIT_BUCKETS and (depth[4:6] == 0).all()
    served, waited = np.empty(n), np.empty(n)
    for week in range(60):
        arrivals = rng.random(n) * 10
        arrivals[5] = 0.0
        cap = np.where(np.arange(n) < 4, 3.0, 12.0)
        plain, plain_served, plain_waited = _plain_week(plain, arrivals, cap)
        serve_week(fast, depth, arrivals, cap, served, waited)
        assert np.array_equal(fast, plain) and np.array_equal(served, plain_served)
        assert np.allclose(waited, plain_waited, rtol=1e-12, atol=0)
        assert np.array_equal(depth, list_depths(fast))
        if week == 30:  # provider 7 closes: its list joins provider 2's (model/queues.py move_list)
            for lists in (plain, fast):
                lists[:, 2] += lists[:, 7]
                lists[:, 7] = 0.0
            depth[2], depth[7] = max(depth[2], depth[7]), 0
    assert fast[:, :4].sum() > 0 and served.sum() > 0


def test_compiled_holder_sums_are_the_whole_array_sums():
    """`Outcomes.month` sums every holder's match and what follows in one compiled pass: each sum equals,
    bit for bit, the whole-array computation over `Outcomes.match` (the matching rule) it replaced."""
    from model.outcomes import HOLD_TYPES, support_cost

    s = load_scenario("baseline").model_copy(update={"agent_scale": 50, "until": dt.date(2018, 3, 31)})
    m = RolloutModel(s)
    m.run()
    o, ppl, p, t = m.services.outcomes, m.people, m.p, m.month
    idx = ppl.where(*HOLDING)
    org, cohort = ppl.org_of(idx).astype(np.int64), ppl.cohort_of(idx).astype(np.int64)
    kind = ppl.state[idx].astype(np.int64) - int(State.NOTIONAL)
    unspent = o.unspent_share.copy()
    o.month(t)  # again, on the same holders: the compiled pass
    mt = o.match(idx)
    w, key, budget = float(s.agent_scale), cohort * len(HOLD_TYPES) + kind, ppl.budget[idx].astype(np.int64)
    gain, fall = p.ascot_gain_per_match * mt, np.clip(p.inpatient_reduction_per_match * mt, 0.0, 1.0)
    beds, support = o.bed_days[cohort], support_cost(p, cohort, kind, budget)

    def by_key(x=None):
        return np.bincount(key, weights=x, minlength=o.rec["holders"][t].size).reshape(o.rec["holders"][t].shape) * w

    plain = {"holders": by_key(), "match_sum": by_key(mt), "ascot_gain_sum": by_key(gain),
             "bed_days_saved": by_key(beds * fall / 12), "budget_pence": by_key(budget),
             "support_pence": by_key(support), "reclaimed_pence": by_key(np.where(kind > 0, budget * unspent[org], 0.0))}
    for name, sums in plain.items():
        assert np.array_equal(o.rec[name][t], sums), name
    assert np.array_equal(o.org_bed_days_holders, np.bincount(org, weights=beds * (1 - fall), minlength=m.n_orgs) * w)
    assert np.array_equal(o.org_ascot, np.bincount(org, weights=gain, minlength=m.n_orgs) * w)
    assert np.array_equal(o.org_support, np.bincount(org, weights=support, minlength=m.n_orgs).astype(np.int64)
                          * s.agent_scale)
    notional = kind == 0
    assert np.array_equal(o.org_notional, np.bincount(org[notional], weights=budget[notional], minlength=m.n_orgs)
                          .astype(np.int64) * s.agent_scale)
    assert plain["match_sum"].sum() > 0 and plain["reclaimed_pence"].sum() >= 0 and plain["support_pence"].sum() > 0


def _people_for_moves(n: int = 3_000, n_groups: int = 60, seed: int = 4) -> P.People:
    rng = np.random.default_rng(seed)
    ppl = P.People(n_groups, 6, capacity=16)  # small capacity: `add` must grow the arrays
    z = np.zeros(n)
    ppl.add(group=rng.integers(0, n_groups, n).astype(np.intp), state=rng.integers(0, 8, n).astype(np.int8),
            flags=z.astype(np.uint8), since=z.astype(np.int16), exit=z.astype(np.int16), threshold=z.astype(np.float32),
            u_decide=z.astype(np.float32), u_type=z.astype(np.float32), budget=z.astype(np.int32),
            review=z.astype(np.int16), counted_fy=z.astype(np.int16))
    return ppl


def test_compiled_moves_keep_the_count_table_equal_to_a_recount():
    """`People.move` (one state or one per person), `reassign` and `add` update the count table in place
    (compiled); after many of each it equals a count from scratch, and each person is where they were sent."""
    rng = np.random.default_rng(5)
    ppl = _people_for_moves()
    for month in range(1, 40):
        idx = np.sort(rng.choice(ppl.n, rng.integers(0, 400), replace=False))
        if month % 3:
            to = rng.integers(0, P.N_STATES, len(idx)).astype(np.int8)
            ppl.move(idx, to, month)
            assert (ppl.state[idx] == to).all()
        else:
            ppl.move(idx, State.PLANNING, month)
            assert (ppl.state[idx] == P.PLANNING).all()
        assert (ppl.since[idx] == month).all()
        if month % 7 == 0:
            ppl.reassign(idx[: len(idx) // 2], rng.integers(0, ppl.n_groups, len(idx) // 2).astype(np.intp))
        assert np.array_equal(ppl.counts, ppl.recount())


def test_compiled_flow_counts_are_bincounts():
    """The Recorder counts each flow into its month in place (compiled): the same as a bincount of the groups,
    and waits as integer sums of whole months."""
    from model.counting import Recorder

    rng = np.random.default_rng(6)
    months = [dt.date(2015, m, 1) for m in range(1, 4)]
    rec = Recorder(months, P.N_STATES, 30, people=None)
    parts, waits = [], []
    for _ in range(5):
        g = rng.integers(0, 30, rng.integers(0, 50)).astype(np.intp)
        w = rng.integers(0, 20, len(g)).astype(np.int16)
        rec.offered(1, g)
        rec.waited(2, g, w)
        parts.append(g)
        waits.append(w)
    g, w = np.concatenate(parts), np.concatenate(waits)
    assert np.array_equal(rec.offers[1], np.bincount(g, minlength=30))
    assert rec.offers[[0, 2]].sum() == 0
    assert np.array_equal(rec.planned[2], np.bincount(g, minlength=30))
    assert np.array_equal(rec.wait_months[2], np.bincount(g, weights=w, minlength=30).astype(np.int64))
