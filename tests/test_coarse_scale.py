"""Coarse-scale accuracy (issue 12): the support-planning credit limit in people is the full-scale one
wherever a full-scale CCG would use all its capacity, and a 1:k run banks extra only where planning is idle
(model/planning.py `credit_limit`). The 1:10 against 1:1 bands themselves are measured, with their noise, by
benchmarks/bench_ensemble.py (too slow for a test)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from model.planning import credit_limit
from model.rollout import RolloutModel
from model.scenario import load_scenario

PEOPLE_CAPACITY = np.array([0.0, 3.4, 7.6, 20.0])  # plans a month at four CCGs, in people
CARRY = 1.0


def planning_state(scale: int, waiting_people: float) -> SimpleNamespace:
    """What credit_limit reads, for a run whose agents stand for `scale` people each."""
    return SimpleNamespace(agent_scale=scale, capacity=PEOPLE_CAPACITY / scale, ccgs=SimpleNamespace(open=np.ones(4, bool)),
                           planning_waiting=np.full(len(PEOPLE_CAPACITY), waiting_people / len(PEOPLE_CAPACITY) / scale),
                           p=SimpleNamespace(planning_carryover_months=CARRY))


def test_full_scale_limit_is_the_rule_it_always_was():
    for waiting in (0.0, 10.0, 1e6):
        limit = credit_limit(planning_state(1, waiting))
        assert np.array_equal(limit, PEOPLE_CAPACITY * (1.0 + CARRY) + 1.0)


@pytest.mark.parametrize("scale", [2, 10, 50])
def test_coarse_limit_in_people_equals_full_scale_when_queues_are_long(scale):
    """Once as many people wait as a month's capacity plans, nothing is banked beyond the full-scale limit."""
    full = credit_limit(planning_state(1, PEOPLE_CAPACITY.sum()))
    for waiting in (1.0, 3.0):
        coarse = credit_limit(planning_state(scale, waiting * PEOPLE_CAPACITY.sum())) * scale
        np.testing.assert_allclose(coarse, full, rtol=1e-12)


@pytest.mark.parametrize("scale", [2, 10, 50])
def test_coarse_run_banks_up_to_one_agent_while_planning_is_idle(scale):
    """Idle planning: one agent (scale people) more than the months of capacity; half idle: half of the extra;
    the more people wait, the less is banked, never below the full-scale limit."""
    base = PEOPLE_CAPACITY * (1.0 + CARRY)
    idle = credit_limit(planning_state(scale, 0.0)) * scale
    np.testing.assert_allclose(idle, base + scale, rtol=1e-12)
    half = credit_limit(planning_state(scale, 0.5 * PEOPLE_CAPACITY.sum())) * scale
    np.testing.assert_allclose(half, base + 1.0 + 0.5 * (scale - 1), rtol=1e-12)
    limits = [credit_limit(planning_state(scale, w * PEOPLE_CAPACITY.sum())).sum() for w in np.linspace(0, 1.5, 7)]
    assert all(a >= b for a, b in zip(limits, limits[1:]))
    assert min(limits) * scale == pytest.approx((base + 1.0).sum())


def test_closed_ccgs_capacity_does_not_count():
    """A closed CCG keeps its row (and so a capacity) but no people: only open CCGs' capacity measures idleness."""
    m = planning_state(10, PEOPLE_CAPACITY[:3].sum())  # as many waiting as the three open CCGs plan a month
    m.ccgs.open = np.array([True, True, True, False])
    np.testing.assert_allclose(credit_limit(m), m.capacity * (1.0 + CARRY) + 0.1)


def test_no_capacity_anywhere_is_idle_and_finite():
    m = planning_state(10, 5.0)
    m.capacity = np.zeros(4)
    assert np.all(np.isfinite(credit_limit(m))) and np.allclose(credit_limit(m), 1.0)


def test_the_model_holds_credit_to_the_limit(monkeypatch):
    """In a short coarse run the credit after each month's accrual is within the limit, and some CCGs reach it
    (the limit binds: the rule is live)."""
    import model.planning as planning

    seen = []
    accrue = planning.accrue

    def checked(m, take_up):
        accrue(m, take_up)
        limit = credit_limit(m)  # nothing it reads has changed since accrue used it
        seen.append((bool(np.all(m.planning_credit <= limit + 1e-12)), bool(np.any(m.planning_credit == limit))))

    monkeypatch.setattr(planning, "accrue", checked)
    RolloutModel(load_scenario("baseline").with_(until=dt.date(2015, 3, 31), agent_scale=50), services=False).run()
    assert len(seen) == 12 and all(ok for ok, _ in seen) and any(hit for _, hit in seen)
