"""The service side (issue 3): queues, viability and closures, money to the penny, the counterfactual."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model import parameters as reg
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.services import INPATIENT, SERVICES, counterfactual_scenario
from model.sim import Sim

SHORT = dict(until=dt.date(2016, 3, 31), agent_scale=10)
MH = SERVICES.index("mental_health")


def short(name: str = "baseline", **pars):
    s = load_scenario(name).with_(**SHORT)
    return s.with_parameters(**pars) if pars else s


@pytest.fixture(scope="module")
def cuts_model():
    return RolloutModel(load_scenario("cuts_fund_phbs").with_(until=dt.date(2017, 3, 31), agent_scale=10)).run()


@pytest.fixture(scope="module")
def pair():
    """cuts_fund_phbs and money_follows_patient over the whole period, each against its counterfactual."""
    return {name: Sim(load_scenario(name).with_(agent_scale=10)).run(counterfactual=True).extra["services_national"]
            for name in ("cuts_fund_phbs", "money_follows_patient", "baseline")}


def test_cutting_a_service_capacity_raises_its_mean_wait():
    waits = []
    for factor in (1.0, 0.9):
        m = RolloutModel(short())
        m.services.capacity[MH] *= factor
        m.run()
        waits.append(np.nanmean(m.services.tables()["services_national"]["wait_weeks_mental_health"].to_numpy()[1:]))
    assert waits[1] > waits[0]


def test_waiting_lists_conserve_people_month_by_month(monkeypatch):
    """Everyone referred is still waiting or has been served: the waiting lists the month reads (recorded,
    moved at a closure, used at re-basing) are the ones the weekly queue works on. (They once were a copy:
    the recorded lists never moved from their starting state.)"""
    import model.services as services_module

    seen = []
    record = services_module.record

    def spy(side, t):
        q = side._q
        seen.append((q["arrivals"].sum(), q["served"].sum(), side.waiting().sum()))
        record(side, t)

    monkeypatch.setattr(services_module, "record", spy)
    m = RolloutModel(short("cuts_fund_phbs"))
    start = m.services.waiting().sum()
    m.run()
    waiting = np.array([w for _, _, w in seen])
    assert np.ptp(waiting) > 0.01 * start  # the lists move with demand and capacity
    for (_, _, before), (arrived, served, after) in zip(seen, seen[1:]):
        assert after == pytest.approx(before + arrived - served, rel=1e-9)
    assert seen[0][2] == pytest.approx(start + seen[0][0] - seen[0][1], rel=1e-9)


def test_provider_below_viability_rule_closes_and_its_users_are_conserved():
    m = RolloutModel(short())
    m.run()
    side = m.services
    s, j = MH, 0
    prov = side.providers[s][j]
    waiting_before = side.backlog[s].sum()
    users_before = side.served_users[s].sum()
    side.deficit_months[s, j] = m.p.viability_months  # income below costs for long enough
    side.capacity[s, j] = side.capacity0[s, j] * m.p.closure_threshold * 1.01  # one shrink step from closing
    prov.step()
    assert not prov.is_open
    dest = side.route[s, j]
    assert dest >= 0 and side.open[s, dest]
    assert side.backlog[s, j].sum() == 0
    assert side.backlog[s].sum() == pytest.approx(waiting_before, rel=1e-12)
    closure = side.closures[-1]
    assert (closure["service"], closure["ccg"]) == ("mental_health", m.org_codes[side.home[s, j]])
    m.services.month(m.month)  # the next month: the closed provider's users are served by dest
    assert side.served_users[s, j] == 0
    assert side.served_users[s].sum() == pytest.approx(users_before, rel=1e-3)


def test_a_viable_provider_does_not_close():
    m = RolloutModel(short())
    m.run()
    side = m.services
    side.deficit_months[MH, 0] = 0
    side.providers[MH][0].step()
    assert side.providers[MH][0].is_open


def test_money_is_conserved_to_the_penny_every_month(cuts_model):
    m = cuts_model
    it, rec = m.services.ledger.items, m.services.rec
    for k, v in it.items():
        assert v.dtype == np.int64, k
    payments = it["total"] - it["phb_payments"] + it["phb_reclaimed"] - it["support"]
    assert np.array_equal(it["total"], it["contracts"] + it["double_running"] + it["phb_payments"]
                          - it["phb_reclaimed"] + it["support"])
    assert np.array_equal(it["phb_payments"], it["phb_nhs"] + it["phb_outside"] + it["phb_reclaimed"])
    # every pound paid to providers arrives as a provider's income, every month
    assert np.array_equal(rec["income"].sum(axis=(1, 2)), payments.sum(axis=1) + it["phb_nhs"].sum(axis=1))
    # budgets paid out plus notional budgets (held inside the contracts) are the core's monthly spend, to the penny
    assert np.array_equal((it["phb_payments"] + it["phb_notional"]).sum(axis=1),
                          m.recorder.spend.sum(axis=1) * m.agent_scale)
    assert (it["double_running"] >= 0).all() and (it["decommissioned"] >= 0).all()
    assert it["decommissioned"].sum() > 0


def test_no_phbs_run_equals_counterfactual_exactly():
    res = Sim(counterfactual_scenario(short())).run(counterfactual=True)
    nat, prov = res.extra["services_national"], res.extra["services_by_provider"]
    assert nat["holders"].eq(0).all()
    diffs = [c for c in nat.columns if c.endswith("_diff")]
    assert diffs and (nat[diffs].fillna(0).to_numpy() == 0).all()
    pdiffs = [c for c in prov.columns if c.endswith("_diff")]
    assert (prov[pdiffs].fillna(0).to_numpy() == 0).all()
    assert res.extra["services_ledger"]["net_cost_to_nhs_gbp"].eq(0).all()


def test_no_phb_run_has_no_budget_caused_decommissioning_double_running_or_closures(pair):
    for nat in pair.values():
        assert (nat["decommissioned_gbp_cf"] == 0).all()
        assert (nat["double_running_gbp_cf"] == 0).all()
        assert (nat["closures_budgets_cf"] == 0).all()  # any closure there has a named cause that is not budgets
        assert (nat["closures_cf"] == nat["closures_not_budgets_cf"]).all()


def test_waits_are_flat_with_no_budgets_and_no_policy_change():
    m = RolloutModel(counterfactual_scenario(load_scenario("baseline").with_(agent_scale=10))).run()
    wait = m.services.tables()["services_national"]["mean_wait_weeks"].to_numpy()[1:]
    first, last = wait[:12].mean(), wait[-12:].mean()
    assert abs(last - first) < 0.25  # weeks; the old warm-up drained from 6 weeks to 2
    assert last < 2 * first + 0.1


def test_double_running_ends_when_contracts_are_re_based(cuts_model):
    m = cuts_model
    dr = m.services.rec["double_running"].sum(axis=(1, 2))
    aprils = [t for t, d in enumerate(m.months) if d.month == 4 and t > 0]
    assert aprils
    for t in aprils:
        rebased = m.services.rebased[t]
        assert rebased.any()
        assert m.services.rec["double_running"][t][rebased].sum() == 0
        assert dr[t] < dr[t - 1]


def test_notional_budgets_never_double_run(cuts_model):
    side = cuts_model.services
    wheelchair = SERVICES.index("wheelchair")  # personal wheelchair budgets are all notional
    assert side.rec["double_running"][:, wheelchair].sum() == 0
    assert (side.ledger.items["phb_notional"] > 0).any()


def test_cuts_and_money_follows_patient_have_opposite_effects(pair):
    cuts, mfp, base = pair["cuts_fund_phbs"], pair["money_follows_patient"], pair["baseline"]
    last = lambda t, c: t[c].iloc[-1]  # noqa: E731
    year = lambda t, c: t[c].tail(12).sum()  # noqa: E731
    # money follows the patient: no decommissioning, less double running than block-contract baseline
    assert last(mfp, "decommissioned_recurring_gbp_diff") == 0
    assert last(cuts, "decommissioned_recurring_gbp_diff") > 0
    assert year(mfp, "double_running_gbp_diff") < year(base, "double_running_gbp_diff")
    # cuts lengthen waits and close services; when money follows the patient, contracts are re-based on the
    # activity left, so waits barely move
    cuts_wait, mfp_wait = cuts["mean_wait_weeks_diff"].tail(12).mean(), mfp["mean_wait_weeks_diff"].tail(12).mean()
    assert cuts_wait > 0 and cuts_wait > mfp_wait + 0.02 and abs(mfp_wait) < 0.05
    assert last(cuts, "closures_diff") >= last(mfp, "closures_diff") == 0


def test_same_seed_same_service_outputs():
    a = Sim(short("cuts_fund_phbs")).run().extra
    b = Sim(short("cuts_fund_phbs")).run().extra
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_providers_follow_ccg_mergers_and_events_stay_bounded():
    m = RolloutModel(load_scenario("baseline").with_(until=dt.date(2018, 3, 31), agent_scale=50)).run()
    side = m.services
    assert set(np.unique(side.home)) <= set(m.ccg_by_index)  # every contract held by an open CCG
    weeks = (m.months[-1] - m.months[0]).days / 7
    assert side.n_events <= weeks + 2  # one queue process, one event a week
    assert side.providers[INPATIENT][0].ccg_index in m.ccg_by_index


def test_service_tables_are_written_and_summarised(tmp_path):
    from model.results import write_results

    res = Sim(short()).run(counterfactual=True)
    out = write_results(res, tmp_path / "run")
    for name in ("services_national", "services_by_provider", "services_ledger", "services_closures"):
        assert (out / f"{name}.parquet").exists()
    text = res.summary()
    assert "Traditional services" in text and "double running" in text
    assert res.timings["simpy_events"] > 0


def _unread_at(end: str, scenario):
    """Every parameter the world without budgets is said not to read (model.contrast.NO_PHB_WORLD_READS), at
    one end of its range (choices: another choice)."""
    from model.contrast import NO_PHB_WORLD_READS

    changes = {}
    for name in type(scenario.parameters).model_fields:
        p = reg.BY_NAME[name]
        if name in NO_PHB_WORLD_READS:
            continue
        value = [c for c in p.choices if c != p.default][0 if end == "low" else -1] if p.choices else getattr(p, end)
        if value is not None and value != p.default:
            changes[name] = value
    return scenario.with_parameters(**changes)


def _tables(scenario) -> dict:
    r = Sim(scenario).run()
    return {"national": r.national, "by_cohort": r.by_cohort, **r.extra}


@pytest.mark.parametrize("seed", [3, 11])
def test_the_world_without_budgets_reads_none_of_the_parameters_said_to_act_through_budgets(seed):
    """The no-PHB twin is the same run, table for table, when every parameter outside NO_PHB_WORLD_READS
    moves at once to either end of its range: so sharing one twin among scenarios that differ only in
    those (model.contrast.shared_counterfactual) changes no number. A parameter it does read changes it."""
    s = load_scenario("baseline").with_(agent_scale=50, until=dt.date(2024, 3, 31), seed=seed)
    base = _tables(counterfactual_scenario(s))
    for end in ("low", "high"):
        moved = _unread_at(end, s)
        was, now = s.parameters.model_dump(), moved.parameters.model_dump()
        assert sum(was[k] != now[k] for k in was) >= 90  # nearly all of them, at once
        other = _tables(counterfactual_scenario(moved))
        for name, table in base.items():
            pd.testing.assert_frame_equal(other[name], table, check_exact=True, obj=f"{end}: {name}")
    read = _tables(counterfactual_scenario(s.with_parameters(referrals_per_user_year=3.3)))
    assert not read["services_national"].equals(base["services_national"])


def test_scenarios_differing_only_in_how_budgets_are_pushed_share_one_no_phb_twin():
    from model.contrast import shared_counterfactual

    s = load_scenario("baseline").with_(**SHORT)
    twin = shared_counterfactual(s)
    assert twin.name == "no_phbs" and twin.parameters.offer_rate_chc == 0.0 and twin.parameters.initial_holders == 0
    pushed = s.with_parameters(national_push_strength=0.55, take_up_chc=0.5, decommission_propensity=0.5)
    assert shared_counterfactual(pushed.with_(name="baseline_custom", description="mine")) == twin
    assert shared_counterfactual(s.with_parameters(referrals_per_user_year=3.3)) != twin  # it reads this one
    assert shared_counterfactual(s.with_(seed=5)) != twin
    # and the twin is the plain no-PHB run, number for number
    pd.testing.assert_frame_equal(_tables(twin)["services_national"],
                                  _tables(counterfactual_scenario(s))["services_national"], check_exact=True)
