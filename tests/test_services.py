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
    payments = it["total"] - it["phb_payments"] - it["support"]
    assert np.array_equal(it["total"], it["contracts"] + it["double_running"] + it["phb_payments"] + it["support"])
    assert np.array_equal(it["phb_payments"], it["phb_nhs"] + it["phb_outside"] + it["phb_unspent"])
    # every pound paid to providers arrives as a provider's income, every month
    assert np.array_equal(rec["income"].sum(axis=(1, 2)), payments.sum(axis=1) + it["phb_nhs"].sum(axis=1))
    # PHB payments are the core's monthly spend, to the penny
    assert np.array_equal(it["phb_payments"].sum(axis=1), m.recorder.spend.sum(axis=1) * m.agent_scale)
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


def test_inpatient_effect_has_the_sign_of_the_evidence():
    assert reg.get("inpatient_reduction_phb").min >= 0  # the register cannot flip the sign
    nat = Sim(short()).run(counterfactual=True).extra["services_national"]
    assert (nat["inpatient_bed_days_diff"] <= 1e-6).all()
    assert nat["inpatient_bed_days_diff"].iloc[-1] < 0
    m = RolloutModel(short(inpatient_reduction_phb=0.0)).run()
    cf = RolloutModel(counterfactual_scenario(short(inpatient_reduction_phb=0.0))).run()
    bd = m.services.org_rec["inpatient_bed_days"].sum(axis=1)
    bd_cf = cf.services.org_rec["inpatient_bed_days"].sum(axis=1)
    assert np.allclose(bd, bd_cf)  # no effect when the parameter is zero: the fall comes from it alone


def test_cuts_and_money_follows_patient_have_opposite_effects(pair):
    cuts, mfp, base = pair["cuts_fund_phbs"], pair["money_follows_patient"], pair["baseline"]
    last = lambda t, c: t[c].iloc[-1]  # noqa: E731
    year = lambda t, c: t[c].tail(12).sum()  # noqa: E731
    # money follows the patient: no decommissioning, less double running than block-contract baseline
    assert last(mfp, "decommissioned_recurring_gbp_diff") == 0
    assert last(cuts, "decommissioned_recurring_gbp_diff") > 0
    assert year(mfp, "double_running_gbp_diff") < year(base, "double_running_gbp_diff")
    # cuts lengthen waits and close services; money following the patient shortens waits, closes none
    assert cuts["mean_wait_weeks_diff"].tail(12).mean() > 0 > mfp["mean_wait_weeks_diff"].tail(12).mean()
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
