"""Eligible populations (ODD 4.1): who enters, who they are, how long they stay, and why they leave.

How long a person holds a budget follows from who they are: their stay in the eligible population is
drawn once at entry from their cohort's mean (a fast-track CHC person stays about three months, a person
with a learning disability years), and a budget ends when the stay does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from model import parameters as reg
from model.money import PENCE
from model.people import (
    CAPACITY,
    CARER,
    DIED,
    DIRECT_PAYMENT,
    ELIGIBLE,
    FAST_TRACK,
    INF,
    LAST_MONTH,
    LOST_ELIGIBILITY,
    MAX_PENCE,
    NOT_ELIGIBLE,
    NOTIONAL,
    PACKAGE,
    RECOVERED,
    SECTION117,
)
from model.planning import pay_budgets, start_holding
from model.scenario import ScenarioError
from model.state import RolloutState

COHORTS = reg.COHORTS
N_COHORTS = len(COHORTS)
CHC, CHILDREN, MENTAL_HEALTH, LEARNING_DISABILITY, LONG_TERM, WHEELCHAIR = range(N_COHORTS)
MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class CohortFlows:
    """Stocks and flows that keep each eligible population near its published size."""

    stock: np.ndarray  # people at a time, by cohort
    entries: np.ndarray  # new people per month, by cohort
    mean_months: np.ndarray  # mean stay, by cohort (CHC: the standard, non-fast-track part)
    fast_track_stock_share: float
    fast_track_entry_share: float
    fast_track_months: float


def cohort_flows(p) -> CohortFlows:
    """Derive entry rates and stays from the register (stock / mean stay = entries, in steady state)."""
    chc_entries = p.chc_new_per_quarter / 3
    ft_stock = p.chc_eligible * p.chc_fast_track_share
    ft_entries = ft_stock / p.chc_fast_track_mean_months
    std_entries = chc_entries - ft_entries
    if std_entries <= 0:
        raise ScenarioError(
            "parameters.chc_fast_track_mean_months: too short for chc_eligible × chc_fast_track_share to be "
            f"reached from chc_new_per_quarter; it needs more than {ft_stock / chc_entries:.2f} months"
        )
    std_months = (p.chc_eligible - ft_stock) / std_entries
    stock = np.array([p.chc_eligible, p.children_eligible, p.mental_health_eligible,
                      p.learning_disability_eligible, p.long_term_eligible, p.wheelchair_eligible], float)
    months = np.array([std_months, p.children_mean_months, p.mental_health_mean_months,
                       p.learning_disability_mean_months, p.long_term_mean_months, p.wheelchair_mean_months])
    entries = stock / months
    entries[CHC] = chc_entries
    return CohortFlows(stock, entries, months, p.chc_fast_track_share, ft_entries / chc_entries,
                       p.chc_fast_track_mean_months)


def expected_people(m: RolloutState) -> int:
    """Room for the starting stock and about a year of newcomers (arrays grow if needed; speed only)."""
    f = m.flows
    return int((f.stock.sum() + f.entries.sum() * 13) / m.agent_scale * 1.1) + 1024


def cohort_values(m: RolloutState) -> tuple[np.ndarray, np.ndarray]:
    """Share of each cohort already receiving a package, and its median yearly budget (pounds): built once
    per run, since the parameters do not change during one (speed only)."""
    values = m.cache.get("cohort_values")
    if values is None:
        p = m.p
        package = np.array([p.package_share_chc, p.package_share_children, 0.0, p.package_share_learning_disability,
                            0.0, 0.0])
        medians = np.array([getattr(p, f"budget_median_{c}") for c in COHORTS])
        values = m.cache["cohort_values"] = (package, medians)
    return values


def new_people(m: RolloutState, per_group: np.ndarray, rng: np.random.Generator, initial: bool) -> np.ndarray:
    """Create people: per_group[g] new people in group g, with every attribute drawn once, now."""
    p, f = m.p, m.flows
    package_share, medians = cohort_values(m)
    group = np.repeat(np.arange(m.n_groups), per_group)
    k = len(group)
    ft_share = f.fast_track_stock_share if initial else f.fast_track_entry_share
    # the draws, in the stream's order: fast track, carer, capacity, section 117, package (uniforms), stay,
    # offer threshold, budget; the rules that turn them into attributes are in `_attributes`
    uniforms = rng.random((5, k))
    stay_draw, threshold_draw = rng.standard_exponential(k), rng.exponential(1.0, k)
    budget_factor = np.exp(p.budget_log_sd * rng.standard_normal(k))  # lognormal spread around the median
    flags, exit_month, threshold, budget, state = _attributes(
        group, N_COHORTS, uniforms, stay_draw, threshold_draw, budget_factor, m.hazard, package_share, medians,
        f.mean_months, f.fast_track_months, ft_share, p.carer_share, p.capacity_share, p.section117_share,
        m.policy.s117_right, p.right_to_have_multiplier, m.policy.in_scope, m.month)
    return m.people.add(
        group=group, state=state, flags=flags, since=m.month, exit=exit_month, threshold=threshold,
        u_decide=rng.random(k, np.float32), u_type=rng.random(k, np.float32), budget=budget, review=-1,
        counted_fy=-1,
    )


def seed(m: RolloutState) -> None:
    """The eligible populations on the start date, and the pilot-legacy holders."""
    rng, f = m.streams["population"], m.flows
    counts = np.zeros((m.n_orgs, N_COHORTS), dtype=np.int64)
    share = m.population_share()
    for k in range(N_COHORTS):
        counts[:, k] = rng.multinomial(int(round(f.stock[k] / m.agent_scale)), share)
    idx = new_people(m, counts.ravel(), rng, initial=True)
    _seed_initial_holders(m, idx)


def _seed_initial_holders(m: RolloutState, idx: np.ndarray) -> None:
    p, rng, ppl = m.p, m.streams["population"], m.people
    n_total = int(round(p.initial_holders / m.agent_scale))
    experienced = np.flatnonzero(m.ccgs.open & (m.ccgs.pilot | m.ccgs.going_further_faster))
    cohort, org = ppl.cohort_of(idx), ppl.org_of(idx)
    in_pilot = np.isin(org, experienced)
    chc_pool = idx[in_pilot & (cohort == CHC) & ((ppl.flags[idx] & FAST_TRACK) == 0)]
    other_pool = idx[in_pilot & ((cohort == MENTAL_HEALTH) | (cohort == LONG_TERM))]
    n_chc = min(len(chc_pool), int(round(n_total * p.initial_holders_chc_share)))
    n_other = min(len(other_pool), n_total - n_chc)
    chosen = np.concatenate([rng.choice(chc_pool, n_chc, replace=False),
                             rng.choice(other_pool, n_other, replace=False)])
    start_holding(m, np.sort(chosen), legacy=True)


def enter(m: RolloutState, t: int) -> None:
    """Newcomers each month, by CCG population and cohort (Poisson)."""
    if t == 0:
        return
    share = m.population_share()
    known = m.cache.get("entry_means")
    if known is None or known[0] is not share:  # worked out again whenever the shares are (after a merger)
        known = m.cache["entry_means"] = (share, np.outer(share, m.flows.entries / m.agent_scale))
    counts = m.streams["entries"].poisson(known[1]).ravel()
    new_people(m, counts, m.streams["entries"], initial=False)


def leave(m: RolloutState, t: int) -> None:
    """People whose stay ends: they die, recover or lose eligibility, and any budget ends with them."""
    ppl, p = m.people, m.p
    idx = ppl.leaving(t)
    if len(idx) == 0:
        return
    u = m.streams["exits"].random(len(idx))
    reason, held = _leaving_reasons(idx, ppl.state, ppl.flags, ppl.group, N_COHORTS, u, p.chc_death_share,
                                    p.other_death_share, p.recovery_share)
    pay_budgets(m, held, -1)
    m.recorder.exits_from_holding(t, ppl.group[held])
    ppl.move(idx, reason, t)
    ppl.threshold[idx] = INF
    ppl.review[idx] = -1


@numba.njit(cache=True, nogil=True)
def _attributes(group, n_cohorts, uniforms, stay_draw, threshold_draw, budget_factor, hazard, package_share, medians,
                mean_months, fast_track_months, ft_share, carer_share, capacity_share, section117_share, s117_right,
                right_multiplier, in_scope, month):  # pragma: no cover (compiled)
    """New people's attributes from their draws (see `new_people`). Compiled: one pass instead of some
    thirty numpy calls on a few hundred people a month; the same arithmetic, in the same order."""
    k = len(group)
    flags = np.empty(k, np.uint8)
    exit_month = np.empty(k, np.int16)
    threshold = np.empty(k, np.float64)
    budget = np.empty(k, np.int32)
    state = np.empty(k, np.int8)
    for i in range(k):
        cohort = group[i] % n_cohorts
        fast = cohort == CHC and uniforms[0, i] < ft_share
        children = cohort == CHILDREN
        carer = uniforms[1, i] < carer_share or children  # a child always has a parent or carer
        capable = uniforms[2, i] < capacity_share and not children
        s117 = cohort == MENTAL_HEALTH and uniforms[3, i] < section117_share
        package = (uniforms[4, i] < package_share[cohort] and not fast) or s117  # s117 aftercare is a package
        flags[i] = (FAST_TRACK * fast) | (CARER * carer) | (CAPACITY * capable) | (SECTION117 * s117) | (PACKAGE * package)
        mean = fast_track_months if fast else mean_months[cohort]
        stay = 1 + np.floor(stay_draw[i] * mean)  # geometric months, drawn as a floored exponential
        exit_month[i] = np.int16(min(month + stay, LAST_MONTH))
        threshold[i] = hazard[group[i]] + threshold_draw[i] / (right_multiplier if s117 and s117_right else 1.0)
        yearly = medians[cohort] * budget_factor[i]
        budget[i] = np.int32(min(yearly / MONTHS_PER_YEAR * PENCE, MAX_PENCE))
        state[i] = ELIGIBLE if in_scope[cohort] else NOT_ELIGIBLE
    return flags, exit_month, threshold, budget, state


@numba.njit(cache=True, nogil=True)
def _leaving_reasons(idx, state, flags, group, n_cohorts, u, chc_death_share, other_death_share,
                     recovery_share):  # pragma: no cover (compiled)
    """Why each leaver leaves, from their uniform `u`: death (always, on fast track), else recovery, else
    losing eligibility; and which leavers hold a budget (in index order)."""
    reason = np.empty(len(idx), np.int8)
    held = np.empty(len(idx), np.int64)
    n_held = 0
    for k in range(len(idx)):
        i = idx[k]
        death = 1.0 if flags[i] & FAST_TRACK else (chc_death_share if group[i] % n_cohorts == CHC else other_death_share)
        reason[k] = DIED if u[k] < death else (RECOVERED if u[k] < death + (1 - death) * recovery_share else LOST_ELIGIBILITY)
        if NOTIONAL <= state[i] <= DIRECT_PAYMENT:  # `holding`
            held[n_held] = i
            n_held += 1
    return reason, held[:n_held].copy()
