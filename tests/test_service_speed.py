"""The service side's compiled month (issue 12) against the plain whole-array steps it replaced, bit for bit.

Each test keeps the whole-array code the compiled pass replaced (`_plain_*`), puts a run's service side in a
state where every branch matters (closed providers routed elsewhere, providers in deficit or able to grow,
CCGs cutting contracts), and checks both give the same numbers, exactly, dtypes included.
"""

from __future__ import annotations

import copy
import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from model import parameters as reg
from model.catalogue import INPATIENT
from model.money import LEDGER_ITEMS, Ledger
from model.people import State
from model.provider import month_viability, step_providers
from model.queues import WAIT_BUCKETS, queue_stats, queue_week, serve_week, waiting_now
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.services import serve_routed
from model.units import MONTHS_PER_YEAR


@pytest.fixture(scope="module")
def side():
    """cuts_fund_phbs at 1:50 to March 2019 (CCGs cut contracts and have merged), then a few providers
    closed with their users routed elsewhere, some in deficit, some short of capacity."""
    s = load_scenario("cuts_fund_phbs").with_(agent_scale=50, until=dt.date(2019, 3, 31))
    m = RolloutModel(s).run()
    side, rng = m.services, np.random.default_rng(12)
    for s_, j in zip(rng.integers(0, side.n_services - 1, 6), rng.integers(0, side.n_slots, 6)):
        if side.open[s_, j]:
            side.close(int(s_), int(j))
    assert (~side.open & (side.route >= 0)).sum() >= 3 and (side.home != side.home[:, :1]).any()
    return side


def _state(side) -> SimpleNamespace:
    """A copy of what the month's steps read and write."""
    names = ("open", "block", "route", "price", "home", "cuttable", "inpatient", "income", "double_running",
             "decommissioned", "displaced_base", "capacity", "capacity0", "fixed0", "var_unit", "served_users",
             "demand", "deficit_months", "cost", "n_services", "p")
    ns = SimpleNamespace(**{k: copy.copy(getattr(side, k)) for k in names})
    ns.outcomes = SimpleNamespace(org_support=side.outcomes.org_support.copy(), unspent_share=None)
    return ns


def _users_now(side):
    return side._users(side._people())


# ---- the ledger ---------------------------------------------------------------------------------------
def _plain_ledger_month(items, market_supply, side, t, phb_by_org, notional_by_org, users, drive):
    """Ledger.month as whole-array steps (the code `ledger_month` replaced)."""
    def sum_int(keys, values, n):
        out = np.zeros(n, np.int64)
        np.add.at(out, keys, values.astype(np.int64))
        return out

    p, open_ = side.p, side.open
    n_orgs = len(phb_by_org)
    flex = p.flexible_contract_share
    price = side.price[:, None]
    ccg_users, phb_pence = users["ccg_users"], users["phb_pence"]
    home = side.home
    flex_paid = np.where(open_, np.rint(flex * price * ccg_users), 0).astype(np.int64)
    block_paid = np.where(open_, side.block, 0).astype(np.int64)
    routed = side.route >= 0
    spot = np.where(~open_ & routed, np.rint(price * ccg_users), 0).astype(np.int64)
    phb_nhs = np.where(open_ | routed, np.floor(phb_pence * p.phb_nhs_spend_share), 0).astype(np.int64)
    displaced = np.maximum(users["holders_displaced"] - side.displaced_base, 0.0)
    double_running = np.where(open_, np.minimum(side.block, np.rint((1.0 - flex) * price * displaced)),
                              0).astype(np.int64)
    income = block_paid + flex_paid + phb_nhs * open_
    dest = np.where(routed, side.route, 0)
    for s in range(side.n_services):
        closed = ~open_[s] & routed[s]
        if closed.any():
            np.add.at(income[s], dest[s][closed], spot[s][closed] + phb_nhs[s][closed])
    side.income[:] = income

    def by_org(x):
        return sum_int(home.ravel(), x.ravel(), n_orgs)

    payments, dr, nhs = by_org(block_paid + flex_paid + spot), by_org(double_running), by_org(phb_nhs)
    phb = phb_by_org.astype(np.int64)
    notional = np.asarray(notional_by_org, np.int64)
    cash = phb - notional
    demand_out = cash - nhs
    market_supply += p.market_development_rate / MONTHS_PER_YEAR * np.maximum(demand_out - market_supply, 0)
    outside = np.minimum(demand_out, np.floor(market_supply).astype(np.int64))
    support = np.asarray(side.outcomes.org_support, np.int64)
    it = items
    reclaimed = demand_out - outside
    side.outcomes.unspent_share = np.divide(reclaimed, cash, out=np.zeros(n_orgs), where=cash > 0)
    it["contracts"][t] = payments - dr
    inpatient = np.zeros_like(block_paid)
    inpatient[side.inpatient] = (block_paid + flex_paid + spot - double_running)[side.inpatient]
    it["contracts_inpatient"][t] = by_org(inpatient)
    it["double_running"][t] = dr
    it["phb_payments"][t] = cash
    it["phb_reclaimed"][t] = reclaimed
    it["phb_notional"][t] = notional
    it["support"][t] = support
    it["total"][t] = payments + cash - reclaimed + support
    it["phb_nhs"][t] = nhs
    it["phb_outside"][t] = outside
    it["non_traditional"][t] = np.floor(phb * p.non_traditional_share).astype(np.int64)
    it["non_evidence"][t] = np.floor(phb * p.non_evidence_share).astype(np.int64)
    side.double_running[:] = double_running
    freed = flex * price * users["holders_displaced"] + (1.0 - flex) * price * side.displaced_base
    released = sum_int(home.ravel(), np.rint(freed).astype(np.int64).ravel(), n_orgs)
    gap = np.maximum(cash - reclaimed + support + dr - released, 0)
    target = np.floor(p.decommission_propensity * drive * gap).astype(np.int64)
    done = sum_int(home.ravel(), side.decommissioned.ravel(), n_orgs)
    cuttable = np.where(open_ & side.cuttable[:, None], side.block, 0)
    cuttable_org = sum_int(home.ravel(), cuttable.ravel(), n_orgs)
    monthly_cap = 1.0 - (1.0 - p.decommission_max_share) ** (1.0 / MONTHS_PER_YEAR)
    cut_org = np.minimum(np.maximum(target - done, 0), np.floor(monthly_cap * cuttable_org).astype(np.int64))
    share = np.divide(cuttable, cuttable_org[home], out=np.zeros(cuttable.shape), where=cuttable_org[home] > 0)
    cut = np.floor(cut_org[home] * share).astype(np.int64)
    side.block -= cut
    side.decommissioned += cut
    it["decommissioned"][t] = sum_int(home.ravel(), cut.ravel(), n_orgs)


def test_compiled_ledger_month_is_the_whole_array_ledger(side):
    m = side.m
    users, t = _users_now(side), m.month
    phb, notional = side._phb_by_org(), side.outcomes.org_notional
    drive = np.clip(m._org_vector("decommission_drive") + 0.5, 0.0, 1.0)  # CCGs that cut hard
    fast, plain = _state(side), _state(side)
    ledger = Ledger(len(m.months), m.n_orgs)
    ledger.market_supply[:] = side.ledger.market_supply
    items = {k: np.zeros_like(v) for k, v in ledger.items.items()}
    supply = side.ledger.market_supply.copy()
    ledger.month(fast, t, phb, notional, users, drive)
    _plain_ledger_month(items, supply, plain, t, phb, notional, users, drive)
    for k in LEDGER_ITEMS:
        assert ledger.items[k].dtype == items[k].dtype and np.array_equal(ledger.items[k], items[k]), k
    assert np.array_equal(ledger.market_supply, supply)
    assert np.array_equal(fast.outcomes.unspent_share, plain.outcomes.unspent_share)
    for k in ("income", "double_running", "decommissioned", "block"):
        a, b = getattr(fast, k), getattr(plain, k)
        assert a.dtype == b.dtype and np.array_equal(a, b), k
    # not vacuous: contracts cut, closed providers' users bought from where they were routed
    assert ledger.items["decommissioned"][t].sum() > 0 and ledger.items["double_running"][t].sum() > 0
    assert (fast.income != np.where(fast.open, fast.income, 0)).sum() == 0  # closed providers earn nothing
    assert ledger.items["contracts_inpatient"][t].sum() > 0


# ---- who uses which provider ----------------------------------------------------------------------------
def _plain_users(side, ppl):
    """ServiceSide._users as (CCG, cohort) @ (cohort, service) products and a gather (the code replaced)."""
    p, m = side.p, side.m
    rest, held = ppl["rest"], ppl["holders"]
    c = m.people.counts.reshape(-1, m.n_orgs, len(reg.COHORTS)) * m.agent_scale
    notional = c[State.NOTIONAL].astype(float)
    cash = held - notional
    zero = np.zeros(m.n_orgs)
    in_beds = (rest @ side.bed_share) + side.outcomes.org_bed_days_holders / p.inpatient_bed_days_per_year
    held_beds = held @ side.bed_share

    def per_service(community, inpatient):
        return np.column_stack([community, inpatient]).T

    by_org = {
        "ccg_users": per_service((rest + notional) @ side.map[:, :INPATIENT], in_beds),
        "phb_users": per_service(cash @ side.map[:, :INPATIENT] * p.phb_nhs_spend_share, zero),
        "phb_pence": per_service(side._cash_spend() @ side.map[:, :INPATIENT], zero),
        "holders_displaced": per_service(cash @ side.map[:, :INPATIENT], np.maximum(held_beds - (
            side.outcomes.org_bed_days_holders / p.inpatient_bed_days_per_year), 0.0)),
    }
    s_idx = np.arange(side.n_services)[:, None]
    out = {k: v[s_idx, side.home] * side.weight for k, v in by_org.items()}
    out["ccg_users"] = out["ccg_users"] + side.others
    return out


def test_compiled_users_are_the_whole_array_products(side):
    ppl = side._people()
    fast, plain = side._users(ppl), _plain_users(side, ppl)
    assert list(fast) == list(plain)
    for k in plain:
        assert fast[k].dtype == plain[k].dtype and np.array_equal(fast[k], plain[k]), k
    assert (side.weight < 1).any() and plain["phb_pence"].sum() > 0 and plain["holders_displaced"].sum() > 0
    # people summed before scaling are the people scaled state by state
    c = side.m.people.counts.reshape(-1, side.m.n_orgs, len(reg.COHORTS)) * side.m.agent_scale
    assert np.array_equal(ppl["holders"], c[[4, 5, 6]].sum(axis=0).astype(float))
    assert np.array_equal(ppl["rest"], c[[0, 1, 2, 3, 7]].sum(axis=0).astype(float))
    assert np.array_equal(ppl["notional"], c[State.NOTIONAL].astype(float)) and ppl["notional"].sum() > 0


def test_routed_users_are_np_add_at(side):
    users = _users_now(side)
    own = users["ccg_users"] + users["phb_users"]
    plain = np.where(side.open, own, 0.0)
    for s in range(side.n_services):
        moved = ~side.open[s] & (side.route[s] >= 0)
        np.add.at(plain[s], side.route[s][moved], own[s][moved])
    fast = np.full(own.shape, np.nan)
    serve_routed(side.open, side.route, users["ccg_users"], users["phb_users"], fast)
    assert np.array_equal(fast, plain)
    assert (plain > np.where(side.open, own, 0.0)).sum() >= 3  # someone is served by another provider


# ---- costs and the viability rule ------------------------------------------------------------------------
def _plain_month_viability(side):
    """The month's costs, deficits and acting providers as whole-array steps, then step_providers."""
    p = side.m.p
    served = side.served_users
    size = np.divide(side.capacity, side.capacity0, out=np.zeros_like(side.capacity), where=side.capacity0 > 0)
    side.cost = side.fixed0 * size + side.var_unit * served
    side.deficit_months = np.where(side.open & (side.income < side.cost), side.deficit_months + 1, 0)
    can_grow = (side.demand > side.capacity) & (
        side.income >= side.fixed0 * size * (1.0 + p.capacity_growth_rate) + side.var_unit * served)
    acting = side.open & ((side.deficit_months >= p.viability_months) | can_grow)
    cap, before = side.capacity, side.capacity.copy()
    act = acting & side.open
    shrink = act & (side.deficit_months >= p.viability_months)
    grown = cap * (1.0 + p.capacity_growth_rate)
    size = np.divide(grown, side.capacity0, out=np.zeros_like(cap), where=side.capacity0 > 0)
    grow = act & ~shrink & (side.demand > cap) & (side.income >= side.fixed0 * size + side.var_unit * served)
    cap[shrink] *= 1.0 - p.shrink_step
    cap[grow] *= 1.0 + p.capacity_growth_rate
    for s, j in zip(*np.nonzero(shrink & (cap < p.closure_threshold * side.capacity0))):
        now = cap[s, j + 1:].copy()
        cap[s, j + 1:] = before[s, j + 1:]
        side.close(s, j)
        cap[s, j + 1:] = now


NAMES = ("capacity", "open", "route", "waiting_list", "list_depth", "cost", "deficit_months", "served_users",
         "demand", "income")


def test_compiled_provider_month_is_the_whole_array_month(side):
    p, rng = side.m.p, np.random.default_rng(5)
    shape = side.capacity.shape
    side.deficit_months = np.where(rng.random(shape) < 0.3, p.viability_months - 1, 0)  # these may shrink
    low = rng.random(shape) < 0.15
    side.capacity = np.where(low, side.capacity0 * p.closure_threshold * 1.01, side.capacity)  # and close
    side.demand = np.where(rng.random(shape) < 0.5, side.capacity * 2.0, side.demand)  # these may grow
    side.income = np.where(rng.random(shape) < 0.5, side.income * 10 + 10**9, side.income // 3)
    start = {k: getattr(side, k).copy() for k in NAMES}
    n_closed = len(side.closures)
    _plain_month_viability(side)
    plain = {k: getattr(side, k).copy() for k in NAMES}
    closures = side.closures[n_closed:]
    for k in NAMES:
        setattr(side, k, start[k].copy())
    side.waiting_list[:] = start["waiting_list"]  # the lists are a view the side holds: restore in place
    del side.closures[n_closed:]
    month_viability(side)
    for k in NAMES:
        assert getattr(side, k).dtype == plain[k].dtype and np.array_equal(getattr(side, k), plain[k]), k
    assert side.closures[n_closed:] == closures
    changed = plain["capacity"] != start["capacity"]
    assert len(closures) > 0 and changed.sum() > 10 and (plain["capacity"] > start["capacity"]).any()


def test_step_providers_still_steps_only_the_acting(side):
    """The shared rule acts only where asked: with nobody acting, nothing changes."""
    cap = side.capacity.copy()
    step_providers(side, np.zeros(cap.shape, bool))
    assert np.array_equal(side.capacity, cap)


# ---- the weekly queue and its monthly statistics ---------------------------------------------------------
def test_compiled_queue_week_is_the_whole_array_week(side):
    n = side.n_services * side.n_slots
    p, rng = side.p, np.random.default_rng(3)
    lists = side.waiting_list.reshape(WAIT_BUCKETS, n)
    lam, z = side.demand.ravel().copy(), rng.standard_normal(n)
    lam[:5] = 0.0  # no referrals expected
    z[5:10] = -50.0  # draws below zero: nobody arrives
    # plain: the whole-array steps around serve_week
    b1, d1 = lists.copy(), side.list_depth.copy()
    arrivals = np.maximum(lam + np.sqrt(lam) * p.arrival_variability * z, 0.0)
    cap = np.where(side.open, side.capacity, 0.0).ravel()
    served, waited = np.empty(n), np.empty(n)
    serve_week(b1, d1, arrivals, cap, served, waited)
    sums1 = [np.full(n, 2.0) for _ in range(4)]
    for acc, x in zip(sums1, (served, waited, cap, arrivals)):
        acc += x
    # compiled
    b2, d2 = lists.copy(), side.list_depth.copy()
    sums2 = [np.full(n, 2.0) for _ in range(4)]
    outs = [np.empty(n) for _ in range(4)]
    queue_week(b2, d2, lam, z, p.arrival_variability, side.open.ravel(), side.capacity.ravel(), *outs, *sums2)
    assert np.array_equal(b1, b2) and np.array_equal(d1, d2)
    for a, b in zip(sums1, sums2):
        assert np.array_equal(a, b)
    assert (arrivals == 0).sum() >= 10 and (cap == 0).any()
    # people waiting, summed over the weeks in use, are the whole-array sums
    out = np.empty(n)
    waiting_now(b2, d2, out)
    assert np.array_equal(out, b2.sum(axis=0)) and out.sum() > 0


def test_compiled_queue_statistics_are_the_whole_array_ratios():
    rng = np.random.default_rng(9)
    wait, served, capacity, arrivals = (rng.random(50) * 10 for _ in range(4))
    served[:5], capacity[3:8] = 0.0, 0.0
    mean_wait = np.divide(wait, served, out=np.full(50, np.nan), where=served > 0)
    utilisation = np.divide(served, capacity, out=np.full(50, np.nan), where=capacity > 0)
    out_w, out_u = np.empty(50), np.empty(50)
    queue_stats(wait, served, capacity, arrivals, out_w, out_u)
    assert np.array_equal(out_w, mean_wait, equal_nan=True) and np.array_equal(out_u, utilisation, equal_nan=True)
    assert not (wait.any() or served.any() or capacity.any() or arrivals.any())  # the sums start again


# ---- the provider agents ---------------------------------------------------------------------------------
def test_providers_created_at_once_are_registered_as_one_by_one():
    """`Provider.create_all` leaves Mesa's registries as creating each agent with `Provider(...)` does:
    the same unique ids, attributes and order in the model's agents, agents by type and all agents."""
    import mesa

    from model.provider import Provider

    def registries(model):
        def sig(agents):
            return [(type(a).__name__, a.unique_id, getattr(a, "service", None), getattr(a, "slot", None),
                     getattr(a, "origin_code", None), a.pos, a.model is model) for a in agents]
        return sig(model.agents), {k.__name__: sig(v) for k, v in model.agents_by_type.items()}, \
            sig(model._all_agents)

    side = SimpleNamespace(n_services=3, n_slots=4)
    codes = ["A", "B", "C", "D"]
    for provider_first in (False, True):  # a provider already registered or not: registries carry on after it
        bulk, single = mesa.Model(rng=1), mesa.Model(rng=1)
        for model in (bulk, single):
            mesa.Agent(model)  # another kind of agent first, as the CCGs are
            if provider_first:
                Provider(model, side, 9, 9, "Z")
        grid = Provider.create_all(bulk, side, codes)
        for s in range(3):
            for j in range(4):
                Provider(single, side, s, j, codes[j])
        assert registries(bulk) == registries(single)
        assert grid[2][3].unique_id == 13 + provider_first and grid[1][2].key == (1, 2) and grid[0][1].side is side



# ---- the month's smaller compiled passes (speed6): each against the whole-array steps it replaced ------------
def test_month_ccg_terms_are_the_whole_array_terms(side):
    """The matching rule's CCG terms in one pass equal `ccg_terms` over `_ccg_inputs`, with closed CCGs,
    readiness outside 0-1 and people waiting for planning."""
    from model.outcomes import ccg_terms

    m, o = side.m, side.outcomes
    t = m.ccgs
    keep = t.readiness.copy()
    try:
        t.readiness[:3], t.readiness[3:6] = -0.2, 1.3
        plain = ccg_terms(m.p, *o._ccg_inputs())
        fused = o.ccg_terms_now()
        assert (~t.open).any() and m.planning_queue.sum() > 0
        for a, b in zip(plain, fused):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    finally:
        t.readiness[:] = keep


def test_record_month_is_the_whole_array_records(side):
    from model.services import record_month

    T, t = side.rec["capacity"].shape[0], 5
    rng = np.random.default_rng(4)
    before = side.decommissioned - rng.integers(0, 3, side.decommissioned.shape)
    plain = {k: v.copy() for k, v in side.rec.items()}
    r = plain
    r["capacity"][t], r["cost"][t], r["users"][t] = side.capacity, side.cost, side.served_users
    r["waiting"][t] = side.waiting_list.sum(axis=0)  # every week's row, in order: the weeks beyond hold nobody
    r["income"][t], r["block"][t] = side.income, np.where(side.open, side.block, 0)
    r["double_running"][t], r["decommissioned"][t] = side.double_running, side.decommissioned - before
    r["open"][t], r["home"][t] = side.open, side.home
    fused = {k: v.copy() for k, v in side.rec.items()}
    record_month(t, side.capacity, side.cost, side.served_users, side.waiting_list.reshape(WAIT_BUCKETS, -1),
                 side.list_depth, side.income, side.block, side.open, side.double_running, side.decommissioned,
                 before, side.home, *(fused[k] for k in ("capacity", "cost", "users", "waiting", "income", "block",
                                                          "double_running", "decommissioned", "open", "home")))
    for k in plain:
        assert fused[k].dtype == plain[k].dtype and np.array_equal(fused[k], plain[k], equal_nan=True), k
    assert (~side.open).any() and plain["waiting"][t].sum() > 0 and T > t


@pytest.mark.parametrize("power", [0.5, 1.0])
def test_holder_cover_is_the_three_steps(side, power):
    """Budget / need, its power (exact compiled: a square root, or 1) and the scaled cover in one pass equal
    `holder_terms`, numpy's power and `scaled_cover`, with negative and NaN budgets' ratios."""
    from model.outcomes import holder_cover, holder_terms, scaled_cover
    from model.people import HOLDING, NOTIONAL

    ppl, o = side.m.people, side.outcomes
    idx = ppl.where(*HOLDING)
    need = o.need.copy()
    need[0], need[1] = -need[1], np.nan  # a negative and an undefined need: both branches of max(·, 0)
    unspent = np.random.default_rng(2).random(len(o.unspent_share))
    ratio, spendable = np.empty(len(idx)), np.empty(len(idx))
    holder_terms(idx, ppl.group, ppl.state, ppl.budget, ppl.n_cohorts, int(NOTIONAL), need, unspent, ratio, spendable)
    plain = ratio ** power
    scaled_cover(plain, spendable, 0.7)
    fused = np.empty(len(idx))
    holder_cover(idx, ppl.group, ppl.state, ppl.budget, ppl.n_cohorts, int(NOTIONAL), need, unspent, power == 0.5,
                 0.7, fused)
    assert np.array_equal(plain, fused, equal_nan=True) and np.isnan(fused).any() and len(idx) > 100


def test_offered_match_is_the_matching_rule(side):
    """Take-up's expected match through the compiled passes equals `matching_rule`, bit for bit, at the default
    power (0.5) and at a power that is not exact compiled (numpy's power taken first, then the same passes)."""
    from model.offers import expected_match

    m = side.m
    idx = np.flatnonzero(m.people.state[: m.people.n] == int(State.ELIGIBLE))[:3000]
    support = np.random.default_rng(3).random(m.n_orgs)
    fast = expected_match(m, idx, support)
    keep = m.p
    try:
        m.p = keep.model_copy(update={"need_tracking_exponent": 0.5 + 1e-12})  # not exact: numpy's power
        plain = expected_match(m, idx, support)
    finally:
        m.p = keep
    assert np.allclose(fast, plain, rtol=1e-9, atol=0) and len(idx) == 3000
    from model.outcomes import matching_rule
    from model.offers import _expected_terms, cohort_values
    from model.people import CAPACITY, CARER
    from model.population import WHEELCHAIR

    p, ppl = m.p, m.people
    _, need, ctl = cohort_values(m)
    ratio, likely = _expected_terms(idx, ppl.group, ppl.flags, ppl.budget, ppl.n_cohorts, WHEELCHAIR, CARER | CAPACITY,
                                    m.ccgs.direct_payments, need, ctl, p.direct_payment_preference,
                                    p.unsupported_take_up_factor, p.third_party_share, p.pwb_third_party_share)
    exact = matching_rule(p, ratio, m.ccgs.restrictiveness, np.clip(m.ccgs.readiness, 0.0, 1.0), support, likely,
                          org=ppl.org_of(idx))
    assert np.array_equal(fast, exact)
    for power in (0.5 + 1e-12, 0.37, 1.6):
        rule = p.model_copy(update={"need_tracking_exponent": power})
        m.p = rule
        try:
            got = expected_match(m, idx, support)
        finally:
            m.p = keep
        want = matching_rule(rule, ratio, m.ccgs.restrictiveness, np.clip(m.ccgs.readiness, 0.0, 1.0), support, likely,
                             org=ppl.org_of(idx))
        assert np.array_equal(got, want), power


def test_offer_hazard_is_the_whole_array_hazard(side):
    """The month's yearly chances and hazard growth (two compiled passes around numpy's log1p) equal the
    whole-array steps, with wheelchair services switched and not, and chances capped."""
    from model.offers import MAX_YEARLY_CHANCE, _grow_hazard_and_find_due, _minus_yearly
    from model.population import WHEELCHAIR

    m, t = side.m, 40
    rates = m.policy.offer_rates().copy()
    rates[0] = 5.0  # above the cap
    intensity = m.ccgs.offer_intensity(m)
    switch = m.ccgs.pwb_switch_month.copy()
    switch[::2] = t + 1  # half not switched yet
    yearly = np.outer(intensity, rates)
    yearly[:, WHEELCHAIR] = np.where(m.ccgs.open & (switch <= t), rates[WHEELCHAIR], 0.0)
    yearly = np.minimum(yearly, MAX_YEARLY_CHANCE).ravel()
    plain = m.hazard + -np.log1p(-yearly) / 12
    log_stay = np.empty(m.n_groups)
    _minus_yearly(intensity, rates, m.ccgs.open, switch, float(t), WHEELCHAIR, MAX_YEARLY_CHANCE, log_stay)
    np.log1p(log_stay, out=log_stay)
    hazard, ppl = m.hazard.copy(), m.people
    due = _grow_hazard_and_find_due(log_stay, 12.0, ppl.threshold, hazard, ppl.group, ppl.n)
    assert np.array_equal(hazard, plain) and (yearly == MAX_YEARLY_CHANCE).any() and (yearly[WHEELCHAIR::8] == 0).any()
    assert np.array_equal(due, np.flatnonzero(ppl.threshold[: ppl.n] <= hazard[ppl.group[: ppl.n]].astype(np.float32)))


def test_learn_rule_is_the_whole_array_rule(side):
    """CCG learning in one compiled pass equals the whole-array rule (regional leaders by a sort of all open
    CCGs), with tied readiness, closed CCGs, pressure, IPC sites and a national push."""
    from model import ccg

    m = side.m
    t, p = m.ccgs, m.p
    keep = {k: getattr(t, k).copy() for k in ("readiness", "pressure", "ipc")}
    push = m.push_strength
    try:
        rng = np.random.default_rng(8)
        t.readiness[:] = np.round(rng.random(len(t.readiness)), 1)  # many ties
        t.pressure[:], t.ipc[:] = rng.random(len(t.pressure)), rng.random(len(t.ipc)) < 0.2
        m.push_strength = 0.6
        leader = ccg.regional_leaders(m, p.regional_leader_share)
        from_peers = p.peer_learning_rate * np.maximum(0.0, leader - t.readiness)
        national = p.national_support_rate * m.push_strength
        ipc = t.ipc * p.ipc_readiness_rate
        brake = 1.0 - p.pressure_brake * t.pressure * (1.0 - p.funding_follows_target * (m.push_strength > 0))
        gain = (p.readiness_learning_rate + from_peers + national + ipc) / 12 * brake * (1.0 - t.readiness)
        plain = np.where(t.open, t.readiness + gain, t.readiness)
        before = t.readiness.copy()
        ccg.learn(m)
        assert np.array_equal(t.readiness, plain) and (~t.open).any() and not np.array_equal(plain, before)
    finally:
        t.readiness = keep["readiness"]  # (learning sets a new array)
        t.pressure[:], t.ipc[:] = keep["pressure"], keep["ipc"]
        m.push_strength = push


def test_backlog_excess_is_the_whole_array_excess():
    """The waiting lists' excess over the standing lists (compiled, numpy's pairwise sums over the 53 weeks)
    equals max(waiting() − steady_backlog(...).sum, 0) / 26, over lists and demands of every size."""
    from model.contracts import backlog_excess
    from model.queues import steady_backlog

    rng = np.random.default_rng(0)
    for _ in range(40):
        ns, nj = 6, int(rng.integers(1, 200))
        demand = rng.exponential(5, (ns, nj)) * (rng.random((ns, nj)) > 0.1)
        capacity = demand * rng.uniform(0.5, 1.6, (ns, nj))
        v = rng.uniform(0, 3)
        lists = rng.exponential(1, (WAIT_BUCKETS, ns, nj)) * (rng.random((WAIT_BUCKETS, ns, nj)) > 0.5) \
            * 10 ** rng.uniform(-3, 6)
        waiting = np.ascontiguousarray(np.moveaxis(lists, 0, -1)).sum(axis=2)
        plain = np.maximum(waiting - steady_backlog(demand, capacity, v).sum(axis=2), 0.0) / 26.0
        fused = np.empty((ns, nj))
        backlog_excess(lists.reshape(WAIT_BUCKETS, -1), demand, capacity, v ** 2, fused.reshape(-1))
        assert np.array_equal(plain, fused) and (plain > 0).any()
    # the sums are numpy's pairwise sums: a plain running sum would differ somewhere
    a = rng.exponential(1, (200, WAIT_BUCKETS)) * 1e3
    assert any(sum(row, 0.0) != s for row, s in zip(a, a.sum(axis=1)))
