"""Offers and decisions (ODD 4.4): who is offered a budget this month, and who takes it up.

A person is offered when their group's cumulative offer hazard passes a threshold drawn once at entry
(the same distribution as a monthly coin flip, with one draw). The hazard rises each month by the CCG's
offer intensity (readiness, activeness, assurance) × what national policy offers their cohort; for
wheelchair users, by the assessment rate at a CCG that has switched from vouchers to budgets.
An offered person decides the next month, with their own uniform draw (common random numbers).
"""

from __future__ import annotations

import numba
import numpy as np

from model import parameters as reg
from model.outcomes import matching_rule, need_per_month, type_control
from model.people import (
    CAPACITY,
    CARER,
    DECLINED,
    FAST_TRACK,
    HOLDING_ROWS,
    IN_SCOPE,
    INF,
    OFFERED,
    PLANNING,
)
from model.population import WHEELCHAIR
from model.state import RolloutState
from model.wheelchair import issue

MONTHS_PER_YEAR = 12
MAX_YEARLY_CHANCE = 0.999  # a yearly chance of 1 has no hazard: -log(1 - p) must stay finite


def offer(m: RolloutState, t: int) -> None:
    ppl = m.people
    intensity, rates = m.ccgs.offer_intensity(m), m.policy.offer_rates()
    yearly = np.outer(intensity, rates)
    switched = m.ccgs.open & (m.ccgs.pwb_switch_month <= t)  # wheelchair services that offer budgets
    yearly[:, WHEELCHAIR] = np.where(switched, rates[WHEELCHAIR], 0.0)
    yearly = np.minimum(yearly, MAX_YEARLY_CHANCE).ravel()
    m.hazard += -np.log1p(-yearly) / MONTHS_PER_YEAR
    idx = _due_offers(ppl.threshold, m.hazard, ppl.group, ppl.n)
    m.recorder.offered(t, ppl.group[idx])
    ppl.move(idx, OFFERED, t)
    ppl.threshold[idx] = INF


@numba.njit(cache=True, nogil=True)
def _due_offers(threshold, hazard, group, n):  # pragma: no cover (compiled)
    """Everyone (of the first n) whose threshold their group's hazard has reached, in index order (the
    hazard compared in float32, as thresholds are held). Compiled: one pass over everyone, where numpy
    needed a gather of the hazard for every person first (3x the time)."""
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if threshold[i] <= np.float32(hazard[group[i]]):
            out[k] = i
            k += 1
    return out[:k].copy()  # not a view: the offered are kept a month (People.tracked)


def cohort_values(m: RolloutState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Take-up at the reference match and need (pence a month) by cohort, and the control of each way of
    holding: built once per run, since the parameters do not change during one (speed only)."""
    values = m.cache.get("take_up_values")
    if values is None:
        p = m.p
        base = np.array([getattr(p, f"take_up_{c}") for c in reg.COHORTS])
        values = m.cache["take_up_values"] = (base, need_per_month(p), type_control(p))
    return values


def expected_match(m: RolloutState, idx: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The match offered people `idx` expect from a budget: Outcomes' matching rule (model/outcomes.py) on the
    budget they would get against their need, their CCG's restrictions, whether it tells budgets up front,
    the support available, and the way they would likely hold it (the odds of model/planning.py). Their
    carer or capacity counts in take-up's own factors, so it is left out here. `support`: by CCG."""
    p, ppl = m.p, m.people
    org, cohort, flags = ppl.org_of(idx), ppl.cohort_of(idx), ppl.flags[idx]
    _, need, ctl = cohort_values(m)
    supported = (flags & (CARER | CAPACITY)).astype(bool)
    p_dp = np.where(m.ccgs.direct_payments[org] & (cohort != WHEELCHAIR),
                    p.direct_payment_preference * np.where(supported, 1.0, p.unsupported_take_up_factor), 0.0)
    third = np.where(cohort == WHEELCHAIR, p.pwb_third_party_share, p.third_party_share)
    likely_control = p_dp * ctl[2] + (1.0 - p_dp) * (third * ctl[1] + (1.0 - third) * ctl[0])
    known = np.clip(m.ccgs.readiness, 0.0, 1.0)
    ratio = ppl.budget[idx] / need[cohort]
    return matching_rule(p, ratio, m.ccgs.restrictiveness, known, support, likely_control, org=org)


def take_up(m: RolloutState, idx: np.ndarray) -> np.ndarray:
    """Chance that each offered person accepts: the cohort's take-up at the reference match, scaled by the match
    they expect (`take_up_match_elasticity`), by word of mouth, by help, and for fast-track CHC."""
    p, ppl = m.p, m.people
    n_orgs, n_coh = m.n_orgs, len(reg.COHORTS)
    org, flags = ppl.org_of(idx), ppl.flags[idx]
    base = cohort_values(m)[0][ppl.cohort_of(idx)]
    queue = ppl.counts[PLANNING].reshape(n_orgs, n_coh).sum(axis=1)
    cap = m.capacity
    support = np.divide(cap, cap + queue, out=np.zeros(n_orgs), where=(cap + queue) > 0)  # by CCG
    in_scope = ppl.counts[IN_SCOPE].sum(axis=0).reshape(n_orgs, n_coh).sum(axis=1)
    held = ppl.counts[HOLDING_ROWS].sum(axis=0).reshape(n_orgs, n_coh).sum(axis=1)
    share = np.divide(held, in_scope, out=np.zeros(n_orgs), where=in_scope > 0)
    peer = np.minimum(1.0, share / p.peer_saturation_share)[org]
    carer, capable = (flags & CARER).astype(bool), (flags & CAPACITY).astype(bool)
    expected = expected_match(m, idx, support) / p.take_up_reference_match
    prob = (base * expected ** p.take_up_match_elasticity
            * (1 + p.peer_take_up_boost * peer)
            * np.where(carer, p.carer_take_up_factor, 1.0)
            * np.where(~carer & ~capable, p.unsupported_take_up_factor, 1.0)
            * np.where((flags & FAST_TRACK).astype(bool), p.fast_track_take_up_factor, 1.0))
    return np.clip(prob, 0.0, 1.0)


def _chances(m: RolloutState, idx: np.ndarray) -> np.ndarray:
    """Take-up chances of this month's offered people `idx`: as support planning computed them for its
    expected queue a moment before (model/planning.py: nothing changes in between), else afresh."""
    known = m.cache.pop("offered_chances", None)
    if known is not None and known[0] == m.month and np.array_equal(known[1], idx):
        return known[2]
    return take_up(m, idx)


def decide(m: RolloutState, t: int) -> None:
    """Last month's offers are accepted or declined; a wheelchair budget is issued at the assessment."""
    ppl = m.people
    idx = ppl.tracked(OFFERED)
    if len(idx) == 0:
        return
    accept = ppl.u_decide[idx] < _chances(m, idx)
    m.recorder.declined(t, ppl.group[idx[~accept]])
    ppl.move(idx[~accept], DECLINED, t)
    wheelchair = ppl.cohort_of(idx) == WHEELCHAIR
    ppl.move(idx[accept & ~wheelchair], PLANNING, t)
    issue(m, idx[accept & wheelchair])
