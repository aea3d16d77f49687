"""Behaviour of the core roll-out model: conservation, directions of effect, mergers, determinism."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model.people import HOLDING, LEFT, State
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.sim import Sim

SHORT = dt.date(2016, 3, 31)


@pytest.fixture(scope="module")
def baseline():
    return load_scenario("baseline")


def run(scenario, **pars):
    return Sim(scenario.with_parameters(**pars) if pars else scenario).run()


def test_everyone_is_in_exactly_one_state_every_month(baseline):
    model = RolloutModel(baseline.with_(until=dt.date(2017, 6, 30), agent_scale=5))
    ppl = model.people
    alive = [s for s in State if s not in LEFT]
    for first in model.months:
        model.env.run(until=model.day_of(first) + 0.6)
        recount = ppl.recount()
        assert (ppl.counts[alive] == recount[alive]).all()
        assert ppl.counts.sum() == ppl.created  # the left are tallied, never lost
        assert (ppl.counts >= 0).all()
        assert len(np.unique(ppl.state[: ppl.n])) <= len(State)


def test_holders_never_exceed_the_eligible(baseline):
    res = run(baseline.with_(until=dt.date(2020, 12, 31), agent_scale=5))
    assert (res.by_ccg["holders"] <= res.by_ccg["eligible_population"]).all()
    assert (res.by_cohort["holders"] <= res.by_cohort["eligible_population"]).all()
    assert (res.national["holders"] > 0).all()


def test_wheelchair_budgets_start_with_the_first_ccg_offers_and_grow_with_the_right(baseline):
    res = run(baseline.with_(until=dt.date(2020, 12, 31), agent_scale=5))
    wc = res.by_cohort[res.by_cohort["cohort"] == "wheelchair"].set_index("month")
    assert wc.loc[:"2017-03-01", "holders"].sum() == 0 and wc.loc[:"2017-03-01", "eligible_population"].sum() == 0
    assert wc.loc["2018-03-01", "holders"] > 0
    assert wc.loc["2020-03-01", "holders"] > wc.loc["2019-11-01", "holders"]


def test_more_restrictive_ccgs_mean_lower_take_up(baseline):
    short = baseline.with_(until=dt.date(2018, 3, 31), agent_scale=2)
    permissive = run(short, restrictiveness_mean=0.05).national
    restrictive = run(short, restrictiveness_mean=0.9).national
    take_up = lambda n: n["new_holders"].sum() / n["offers"].sum()  # noqa: E731
    assert take_up(restrictive) < take_up(permissive)
    assert restrictive["holders"].iloc[-1] < permissive["holders"].iloc[-1]


def test_more_support_capacity_means_shorter_waits(baseline):
    short = baseline.with_(until=dt.date(2019, 3, 31), agent_scale=2)
    thin = run(short, coordinators_per_100k=0.15).national
    ample = run(short, coordinators_per_100k=2.0).national

    def mean_wait(n):
        return (n["mean_wait_months"].fillna(0) * n["new_holders"]).sum() / n["new_holders"].sum()

    assert mean_wait(ample) < mean_wait(thin)
    assert ample["waiting_for_support_plan"].mean() < thin["waiting_for_support_plan"].mean()


def test_right_to_have_raises_chc_offers(baseline):
    late = baseline.with_(until=dt.date(2015, 9, 30), agent_scale=2)
    with_right = run(late).by_cohort
    without = run(late, right_to_have_date=dt.date(2016, 4, 1)).by_cohort
    chc = lambda t: t.loc[t["cohort"] == "chc", "offers"].sum()  # noqa: E731
    assert chc(with_right) > chc(without)


def test_a_national_push_raises_uptake(baseline):
    res_base = run(baseline.with_(agent_scale=5))
    res_push = run(load_scenario("target_100k").with_(agent_scale=5))
    assert res_push.national["holders"].iloc[-1] > res_base.national["holders"].iloc[-1]


@pytest.mark.parametrize("merger_date", [dt.date(2015, 4, 1), dt.date(2020, 4, 1)])
def test_a_merger_conserves_people_and_budgets(baseline, merger_date):
    model = RolloutModel(baseline.with_(until=merger_date + dt.timedelta(days=40), agent_scale=3))
    ppl = model.people
    day = model.day_of(merger_date)
    model.env.run(until=day)  # everything up to the merger, not the merger itself

    def snapshot():
        alive = ppl.state[: ppl.n] < State.DIED
        holding = np.isin(ppl.state[: ppl.n], HOLDING)
        return (alive.sum(), ppl.budget[: ppl.n][holding].astype(np.int64).sum(), model.spend.sum(),
                holding.sum(), model.total_population)

    before = snapshot()
    closing = set(model.geo.transitions_on(merger_date)["from_code"]) - set(model.geo.transitions_on(merger_date)["to_code"])
    model.env.run(until=day + 0.25)  # the merger event fires at the start of its day
    after = snapshot()
    assert before[:4] == after[:4]
    assert after[4] == pytest.approx(before[4], rel=1e-9)
    open_orgs = set(model.ccg_by_index)
    live_orgs = set(np.unique(ppl.org_of(np.flatnonzero(ppl.state[: ppl.n] < State.DIED))))
    assert live_orgs <= open_orgs
    assert not closing & {c.code for c in model.open_ccgs}
    assert len(model.open_ccgs) == len(model.geo.open_on(merger_date))


def test_same_seed_same_results_byte_for_byte(baseline, tmp_path):
    from model.results import write_results

    s = baseline.with_(until=SHORT, agent_scale=4)
    a = write_results(Sim(s).run(), tmp_path / "a")
    b = write_results(Sim(s).run(), tmp_path / "b")
    for name in ("national", "by_cohort", "by_type", "by_ccg", "by_region", "events"):
        for ext in ("parquet", "csv"):
            assert (a / f"{name}.{ext}").read_bytes() == (b / f"{name}.{ext}").read_bytes(), f"{name}.{ext}"


def test_different_seeds_differ(baseline):
    s = baseline.with_(until=SHORT, agent_scale=4)
    a = Sim(s).run().national["holders"]
    b = Sim(s.with_(seed=s.seed + 1)).run().national["holders"]
    assert not a.equals(b)


def test_agent_scale_keeps_the_picture(baseline):
    s = baseline.with_(until=dt.date(2016, 10, 31))
    full = Sim(s).run().national
    coarse = Sim(s.with_(agent_scale=10)).run().national
    assert coarse["eligible_population"].iloc[-1] == pytest.approx(full["eligible_population"].iloc[-1], rel=0.02)
    assert coarse["holders"].iloc[-1] == pytest.approx(full["holders"].iloc[-1], rel=0.15)


def test_received_in_year_is_at_least_those_holding(baseline):
    n = run(baseline.with_(until=dt.date(2018, 3, 31), agent_scale=4)).national
    assert (n["received_ytd"] >= n["holders"]).all()
    fy = n["month"].dt.year - (n["month"].dt.month < 4)
    within_year = n.groupby(fy)["received_ytd"].apply(lambda s: s.is_monotonic_increasing)
    assert within_year.all()
    restarts = n.loc[n["month"].dt.month == 4, "received_ytd"].iloc[1:]
    year_ends = n.loc[n["month"].dt.month == 3, "received_ytd"].iloc[:-1]
    assert (restarts.to_numpy() < year_ends.to_numpy()).all()  # the count restarts each April
