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
from model.outcomes import EXACT_POWERS, need_per_month, type_control
from model.people import (
    CAPACITY,
    CARER,
    DECLINED,
    DIRECT_PAYMENT,
    ELIGIBLE,
    FAST_TRACK,
    INF,
    NOTIONAL,
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
    rates = m.policy.offer_rates()
    # yearly chance by group: intensity × rate (wheelchair: the rate where the service has switched), at most
    # MAX_YEARLY_CHANCE; the hazard grows by −log(1 − chance) / 12 (log1p in numpy: numba's may differ)
    log_stay = np.empty(m.n_groups)
    _minus_yearly(m.ccgs.offer_intensity(m), rates, m.ccgs.open, m.ccgs.pwb_switch_month, float(t), WHEELCHAIR,
                  MAX_YEARLY_CHANCE, log_stay)
    np.log1p(log_stay, out=log_stay)
    idx = _grow_hazard_and_find_due(log_stay, float(MONTHS_PER_YEAR), ppl.threshold, m.hazard, ppl.group, ppl.n)
    m.recorder.offered(t, ppl.group[idx])
    ppl.move(idx, OFFERED, t)
    ppl.threshold[idx] = INF


@numba.njit(cache=True, nogil=True)
def _minus_yearly(intensity, rates, open_, switch_month, t, wheelchair, cap, out):  # pragma: no cover (compiled)
    """−(yearly chance of an offer) by group (CCG × cohort), as np.outer, the wheelchair column and
    np.minimum(…, cap) computed it."""
    n_c = len(rates)
    for o in range(len(intensity)):
        for c in range(n_c):
            if c == wheelchair:
                y = rates[c] if (open_[o] and switch_month[o] <= t) else 0.0
            else:
                y = intensity[o] * rates[c]
            out[o * n_c + c] = -(y if (y <= cap or np.isnan(y)) else cap)


@numba.njit(cache=True, nogil=True)
def _grow_hazard_and_find_due(log_stay, months, threshold, hazard, group, n):  # pragma: no cover (compiled)
    """The month's hazard added (−log1p(−yearly) / 12, as whole-array steps added it), then `_due_offers`."""
    for g in range(len(hazard)):
        hazard[g] += -log_stay[g] / months
    return _due_offers(threshold, hazard, group, n)


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
    _, need, ctl = cohort_values(m)
    ratio, likely_control = _expected_terms(
        idx, ppl.group, ppl.flags, ppl.budget, ppl.n_cohorts, WHEELCHAIR, CARER | CAPACITY, m.ccgs.direct_payments,
        need, ctl, p.direct_payment_preference, p.unsupported_take_up_factor, p.third_party_share,
        p.pwb_third_party_share)
    # the matching rule in two compiled passes around numpy's exp (numba's may differ in the last bit); a power
    # other than a square root or 1 is numpy's too, taken first (outcomes.size_term's np.maximum(ratio, 0) ** e)
    root = p.need_tracking_exponent == 0.5
    if p.need_tracking_exponent not in EXACT_POWERS:
        ratio = np.maximum(ratio, 0.0) ** p.need_tracking_exponent
    scale = max(p.adequacy_saturation, 1e-9)
    e = np.empty(len(idx))
    _offer_cover(ratio, root, scale, e)
    np.exp(e, out=e)
    match = np.empty(len(idx))
    _offer_match(e, 1.0 - np.exp(-1.0 / scale), idx, ppl.group, ppl.n_cohorts, m.ccgs.restrictiveness,
                 m.ccgs.readiness, support, likely_control, p.restriction_match_loss, p.unknown_budget_match_loss,
                 p.support_match_loss, match)
    return match


def take_up(m: RolloutState, idx: np.ndarray) -> np.ndarray:
    """Chance that each offered person accepts: the cohort's take-up at the reference match, scaled by the match
    they expect (`take_up_match_elasticity`), by word of mouth, by help, and for fast-track CHC."""
    p, ppl = m.p, m.people
    support, peer = _ccg_terms(ppl.counts, m.capacity, m.planning_queue, m.n_orgs, ppl.n_cohorts,
                               p.peer_saturation_share)
    expected = expected_match(m, idx, support) / p.take_up_reference_match
    return _chances_of(idx, ppl.group, ppl.flags, ppl.n_cohorts, cohort_values(m)[0],
                       expected ** p.take_up_match_elasticity, peer, p.peer_take_up_boost, p.carer_take_up_factor,
                       p.unsupported_take_up_factor, p.fast_track_take_up_factor)


# ---- the rules above, compiled (numba): a month's offered are a few hundred people, and numpy's fixed cost per
# call was most of what they cost; the arithmetic is the same, in the same order (powers stay in numpy) ----
@numba.njit(cache=True, nogil=True)
def _ccg_terms(counts, capacity, expected_queue, n_orgs, n_cohorts, saturation):  # pragma: no cover (compiled)
    """By CCG: the support available (capacity against the planning queue expected to be waiting, which is
    the same at any scale; the realised count of agents comes in lumps, and this term is convex in it) and
    word of mouth (the share of its eligible people who hold a budget, against `peer_saturation_share`)."""
    support = np.zeros(n_orgs)
    peer = np.empty(n_orgs)
    for o in range(n_orgs):
        in_scope = held = 0
        queue = expected_queue[o]
        for g in range(o * n_cohorts, (o + 1) * n_cohorts):
            for s in range(ELIGIBLE, DECLINED + 1):
                in_scope += counts[s, g]
            for s in range(NOTIONAL, DIRECT_PAYMENT + 1):
                held += counts[s, g]
        if capacity[o] + queue > 0:
            support[o] = capacity[o] / (capacity[o] + queue)
        share = held / in_scope if in_scope > 0 else 0.0
        peer[o] = min(1.0, share / saturation)
    return support, peer


@numba.njit(cache=True, nogil=True)
def _expected_terms(idx, group, flags, budget, n_cohorts, wheelchair, supported_bits, direct_payments, need, ctl,
                    preference, unsupported_factor, third_party_share, pwb_third_party_share):  # pragma: no cover
    """Each offered person's budget against their need, and the control of the way they would likely hold it
    (the odds of planning._budget_types, written out here too: numba's cache does not notice a change to a
    compiled function in another file, so no compiled step calls across files)."""
    ratio = np.empty(len(idx))
    likely_control = np.empty(len(idx))
    for k in range(len(idx)):
        i = idx[k]
        cohort = group[i] % n_cohorts
        p_dp = 0.0
        if direct_payments[group[i] // n_cohorts] and cohort != wheelchair:
            p_dp = preference * (1.0 if flags[i] & supported_bits else unsupported_factor)
        third = pwb_third_party_share if cohort == wheelchair else third_party_share
        likely_control[k] = p_dp * ctl[2] + (1.0 - p_dp) * (third * ctl[1] + (1.0 - third) * ctl[0])
        ratio[k] = budget[i] / need[cohort]
    return ratio, likely_control


@numba.njit(cache=True, nogil=True)
def _offer_cover(ratio, root, scale, out):  # pragma: no cover (compiled)
    """`adequacy`'s exponent of `size_term` for offered people (all money spendable): −max(max(ratio, 0)
    ** exponent, 0) / scale, the power a square root if `root`, else 1 (outcomes.EXACT_POWERS)."""
    for k in range(len(ratio)):
        r = ratio[k]
        r = r if (r >= 0.0 or np.isnan(r)) else 0.0  # np.maximum(ratio, 0.0)
        if root:
            r = np.sqrt(r)
        r = r if (r >= 0.0 or np.isnan(r)) else 0.0  # adequacy's np.maximum(…, 0.0)
        out[k] = -r / scale


@numba.njit(cache=True, nogil=True)
def _offer_match(e, denominator, idx, group, n_cohorts, restrictiveness, readiness, support, likely_control,
                 restriction_loss, unknown_loss, support_loss, out):  # pragma: no cover (compiled)
    """`matching_rule` for offered people from `e` (exp of `_offer_cover`), operation for operation: size ×
    (CCG control × likely control) × CCG support (help counted in take-up's own factors)."""
    for k in range(len(idx)):
        o = group[idx[k]] // n_cohorts
        size = (1.0 - e[k]) / denominator
        known = readiness[o]
        if not np.isnan(known):  # np.clip(readiness, 0, 1)
            known = known if known > 0.0 else 0.0
            known = known if known < 1.0 else 1.0
        control = (1.0 - restriction_loss * restrictiveness[o]) * (1.0 - unknown_loss * (1.0 - known))
        out[k] = size * (control * likely_control[k]) * (1.0 - support_loss * (1.0 - support[o]))


@numba.njit(cache=True, nogil=True)
def _chances_of(idx, group, flags, n_cohorts, base, match_factor, peer, peer_boost, carer_factor, unsupported_factor,
                fast_track_factor):  # pragma: no cover (compiled)
    """Take-up chances from the match factor (expected match over the reference, to the elasticity)."""
    prob = np.empty(len(idx))
    for k in range(len(idx)):
        i = idx[k]
        carer, capable = flags[i] & CARER, flags[i] & CAPACITY
        x = (base[group[i] % n_cohorts] * match_factor[k]
             * (1 + peer_boost * peer[group[i] // n_cohorts])
             * (carer_factor if carer else 1.0)
             * (unsupported_factor if not carer and not capable else 1.0)
             * (fast_track_factor if flags[i] & FAST_TRACK else 1.0))
        prob[k] = min(max(x, 0.0), 1.0)
    return prob


def _chances(m: RolloutState, idx: np.ndarray) -> np.ndarray:
    """Take-up chances of this month's offered people `idx`: as support planning computed them for its
    expected queue a moment before (model/planning.py: nothing changes in between), else afresh."""
    known = m.cache.pop("offered_chances", None)
    if known is not None and known[0] == m.month and len(known[1]) == len(idx) and not (known[1] != idx).any():
        return known[2]
    return take_up(m, idx)


def decide(m: RolloutState, t: int) -> None:
    """Last month's offers are accepted or declined; a wheelchair budget is issued at the assessment."""
    ppl = m.people
    idx = ppl.tracked(OFFERED)
    if len(idx) == 0:
        return
    declined, planning, assessed = _decisions(idx, ppl.u_decide, _chances(m, idx), ppl.group, ppl.n_cohorts, WHEELCHAIR)
    m.recorder.declined(t, ppl.group[declined])
    ppl.move(declined, DECLINED, t)
    ppl.move(planning, PLANNING, t)
    issue(m, assessed)


@numba.njit(cache=True, nogil=True)
def _decisions(idx, u_decide, chances, group, n_cohorts, wheelchair):  # pragma: no cover (compiled)
    """Split the offered by their decision (their own uniform against their chance): those who decline, those
    who accept and wait for support planning, and wheelchair users who accept at the assessment."""
    n = len(idx)
    declined, planning, assessed = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    a = b = c = 0
    for k in range(n):
        i = idx[k]
        if not u_decide[i] < chances[k]:
            declined[a] = i
            a += 1
        elif group[i] % n_cohorts == wheelchair:
            assessed[c] = i
            c += 1
        else:
            planning[b] = i
            b += 1
    return declined[:a].copy(), planning[:b].copy(), assessed[:c].copy()
