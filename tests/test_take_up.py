"""Take-up through the matching rule (issue 9): an offered person weighs the match they expect, so a restriction
lowers take-up and the quality-of-life gain through the same terms, and nothing else carries it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model import parameters as reg
from model.offers import expected_match, take_up
from model.people import HOLDING
from model.rollout import RolloutModel
from model.scenario import load_scenario

SHORT = dict(until=dt.date(2017, 3, 31), agent_scale=10)
DOUBLED = {f"budget_median_{c}": 2 * reg.get(f"budget_median_{c}").default for c in reg.COHORTS}


def run(**pars) -> RolloutModel:
    return RolloutModel(load_scenario("baseline").with_(**SHORT).with_parameters(**pars)).run()


def holders(m: RolloutModel) -> float:
    return float(m.people.counts[list(HOLDING)].sum())


def gain(m: RolloutModel, months: int = 12) -> float:
    r = m.services.outcomes.rec
    return r["ascot_gain_sum"][-months:].sum() / r["holders"][-months:].sum()


@pytest.fixture(scope="module")
def lax_tight():
    return run(restrictiveness_mean=0.1), run(restrictiveness_mean=0.8)


def test_restrictions_lower_take_up_and_gain(lax_tight):
    lax, tight = lax_tight
    assert holders(tight) < 0.95 * holders(lax)
    assert gain(tight) < gain(lax)


def test_without_the_rules_restriction_term_restrictions_change_nothing():
    lax, tight = run(restrictiveness_mean=0.1, restriction_match_loss=0.0), \
        run(restrictiveness_mean=0.8, restriction_match_loss=0.0)
    assert holders(tight) == holders(lax)
    assert gain(tight) == pytest.approx(gain(lax), rel=1e-12)


def test_with_no_restrictions_the_rules_still_work():
    free = dict(restrictiveness_mean=0.0, restrictiveness_spread=0.0)
    base, bigger = run(**free), run(**free, **DOUBLED)
    assert holders(bigger) > holders(base)  # larger budgets: more takers
    assert gain(bigger) > gain(base)  # and bigger gains
    assert holders(run(**free, support_match_loss=0.0)) != holders(base)  # support still counts


def test_take_up_follows_the_expected_match(lax_tight):
    m = lax_tight[0]
    idx = m.people.where(*reg_states())
    support = np.ones(len(idx))
    e = expected_match(m, idx, support)
    assert (e > 0).all() and np.isfinite(e).all()
    p = take_up(m, idx)
    assert ((p >= 0) & (p <= 1)).all()
    # the same person with a more restrictive CCG expects less and takes up less
    before = m.ccgs.restrictiveness.copy()
    m.ccgs.restrictiveness[:] = np.minimum(before + 0.5, 1.0)
    try:
        assert (expected_match(m, idx, support) <= e + 1e-12).all()
        assert take_up(m, idx).mean() < p.mean()
    finally:
        m.ccgs.restrictiveness[:] = before


def reg_states():
    from model.people import State
    return (State.ELIGIBLE, State.DECLINED)


def test_support_people_expect_reads_the_expected_queue_not_the_agents_waiting(lax_tight):
    """Take-up's support term and holders' realised match read the queue support planning expects
    (`planning_queue`, the same at any scale), not the count of agents waiting, which comes in lumps at a
    coarse scale (the term is convex in it, so lumps would raise the support seen on average). Moving the
    agents waiting changes nothing; a longer expected queue lowers take-up and the match, CCG by CCG."""
    from model.people import State

    m = lax_tight[0]
    idx = m.people.where(*reg_states())
    holding = m.people.where(*HOLDING)
    p, match = take_up(m, idx), m.services.outcomes.match(holding)
    counts, queue = m.people.counts.copy(), m.planning_queue.copy()
    try:
        c = m.people.counts  # (agents moved within a group, so word of mouth's count in scope is kept)
        c[State.OFFERED] += c[State.PLANNING]  # no agent waiting anywhere
        c[State.PLANNING] = 0
        assert np.array_equal(take_up(m, idx), p)
        lumps = np.flatnonzero(c[State.ELIGIBLE] >= 40)[::7]  # then lumps of forty in some groups
        c[State.ELIGIBLE, lumps] -= 40
        c[State.PLANNING, lumps] += 40
        assert len(lumps) > 10 and np.array_equal(take_up(m, idx), p)
        assert np.array_equal(m.services.outcomes.match(holding), match)
        m.planning_queue[:] = queue * 3 + 5  # coordinators look shorter everywhere
        assert take_up(m, idx).mean() < p.mean() and (take_up(m, idx) <= p + 1e-12).all()
        assert m.services.outcomes.match(holding).mean() < match.mean()
    finally:
        m.people.counts[:], m.planning_queue[:] = counts, queue
