"""Assurance and planning (ODD 4.3): how CCGs respond to their IAF rank and to their own plan.

From 2016/17 every CCG is rated on PHBs per head (IAF indicator 105b) and ranked against its peers; from
the 2017–19 planning guidance each CCG submits a trajectory to the national milestone and is monitored
quarterly. Each quarter a CCG's assurance pressure is

    pressure = rank_response × (1 − its percentile in its region) + plan_response × its shortfall against plan

times the room its money leaves (financial pressure brakes it unless national funding offsets it).
Pressure raises its offers (ccg.CCGTable.offer_intensity) and, above a threshold, makes it re-designate
existing packages as budgets (model/redesignation.py). The national push (model/ccg.py: national
support) acts on every CCG alike; this response depends on where each CCG stands, so the two are
separately identifiable from CCG-level variation. A run with one agent for many people ranks its CCGs
on an estimate of the figure real counts would give (`as_full_scale`), not on its lumpy counts.
"""

from __future__ import annotations

import numba
import numpy as np

from model.ccg import region_of
from model.state import RolloutState

QUARTER_MONTHS = (1, 4, 7, 10)


def regional_percentile(per_head: np.ndarray, open_: np.ndarray, region: np.ndarray,
                        tie_break: np.ndarray | None = None) -> np.ndarray:
    """Each open CCG's rank within its region on PHBs per head: 0 at the bottom, 1 at the top (`region`:
    names or codes, one per organisation). One sort of all open CCGs by region, then per head, then
    `tie_break` (one number per organisation; by index if None); a CCG alone in its region is at 0.5."""
    members = np.flatnonzero(open_)
    if len(members) == 0:
        return np.zeros(len(per_head))
    ties = members if tie_break is None else tie_break[members]
    order = members[np.lexsort((ties, per_head[members], region[members]))]
    return _ranks_in_runs(order, _codes(region), len(per_head))


def _codes(region: np.ndarray) -> np.ndarray:
    """Regions as integer codes in their sorted order (the model passes codes already; tests may pass names)."""
    return region if region.dtype.kind in "iu" else np.unique(region, return_inverse=True)[1]


@numba.njit(cache=True, nogil=True)
def _ranks_in_runs(order, region, n):  # pragma: no cover (compiled)
    """Percentile of each CCG in `order` (sorted by region first) within its run of one region: its position
    in the run over the run's length less 1, or 0.5 alone; 0 for organisations not in `order`."""
    pct = np.zeros(n)
    k = 0
    while k < len(order):
        j = k
        while j < len(order) and region[order[j]] == region[order[k]]:
            j += 1
        for q in range(k, j):
            pct[order[q]] = (q - k) / (j - k - 1) if j - k > 1 else 0.5
        k = j
    return pct


def as_full_scale(per_head: np.ndarray, population: np.ndarray, open_: np.ndarray, region: np.ndarray,
                  agent_scale: int) -> np.ndarray:
    """PHBs per head as the IAF would rate them, estimated from a run where an agent stands for `agent_scale`
    people (unchanged at full scale).

    The IAF rates real counts. A coarse count comes in lumps of `agent_scale` people, so it strays about
    `agent_scale` times as far (in variance) from a CCG's underlying rate, small CCGs' most: ranked as they
    were, small CCGs crowded the bottom, and ensembles at one agent per 10 or 50 people ran up to 1% and 2%
    low in 2016-18. Each open CCG's figure is now the usual (empirical Bayes) estimate of its rate: its
    region's rate r plus its own distance from r times v / (v + agent_scale × r / population), where
    r / population is a real count's variance about the rate and v the spread between CCGs beyond the
    lumps (the region's variance less their mean variance, at least 0). Where the lumps are all the spread
    (v = 0, at one agent per 50 people in 2016-17) the region's CCGs are level and the quarter's draw orders
    them. It overshoots on size (large CCGs at the bottom more often than at full scale); docs/ODD.md 4.3
    has what was measured, and the rule that matches the spread instead, which left the deficit."""
    if agent_scale <= 1:
        return per_head
    return _estimate(per_head, population, open_, _codes(region), float(agent_scale))


@numba.njit(cache=True, nogil=True)
def _estimate(per_head, population, open_, region, agent_scale):  # pragma: no cover (compiled)
    """`as_full_scale`'s rule for every region at once, compiled: sums by region in index order (as numpy's
    bincount makes them), the same operations in the same order; one pass instead of some twenty numpy calls
    each quarter."""
    n_codes = region.max() + 1 if len(region) else 0
    count, sum_x, sum_xp, sum_p = np.zeros(n_codes), np.zeros(n_codes), np.zeros(n_codes), np.zeros(n_codes)
    for i in range(len(per_head)):
        if open_[i] and population[i] > 0:
            c = region[i]
            count[c] += 1
            sum_x[c] += per_head[i]
            sum_xp[c] += per_head[i] * population[i]
            sum_p[c] += population[i]
    rate = np.zeros(n_codes)
    mean = np.zeros(n_codes)
    for c in range(n_codes):
        if count[c] > 0:
            rate[c] = sum_xp[c] / sum_p[c]
            mean[c] = sum_x[c] / count[c]
    spread, sum_lumpy = np.zeros(n_codes), np.zeros(n_codes)
    for i in range(len(per_head)):
        if open_[i] and population[i] > 0:
            c = region[i]
            d = per_head[i] - mean[c]
            spread[c] += d * d
            sum_lumpy[c] += agent_scale * rate[c] / population[i]
    out = per_head.copy()
    for i in range(len(per_head)):
        if open_[i] and population[i] > 0:
            c = region[i]
            lumpy = agent_scale * rate[c] / population[i]
            between = max(0.0, spread[c] / count[c] - sum_lumpy[c] / count[c])
            weight = between / (between + lumpy) if between + lumpy > 0 else 1.0
            out[i] = rate[c] + weight * (per_head[i] - rate[c])
    return out


def pressure(rank_pct: np.ndarray, plan_gap: np.ndarray, money_room: np.ndarray, p) -> np.ndarray:
    """The assurance rule for every CCG at once (see the module docstring)."""
    raw = p.assurance_rank_response * (1.0 - rank_pct) + p.assurance_plan_response * plan_gap
    return np.clip(raw, 0.0, 1.0) * money_room


def submit_plans(m: RolloutState) -> None:
    """Each CCG plans a straight line from its holders now to its population share of the milestone."""
    t = m.ccgs
    m.plan_start_month = m.month_at_event()
    m.plan_start_holders = m.holders_by_org()
    share = np.where(t.open, t.population, 0.0) / max(np.where(t.open, t.population, 0.0).sum(), 1.0)
    m.plan_end_holders = np.maximum(m.policy.milestone * share, m.plan_start_holders)
    m.plan_end_month = m.month_of(m.policy.milestone_date)


def plan_gap(m: RolloutState, held: np.ndarray) -> np.ndarray:
    """How far each CCG is behind its own trajectory this month, in people, as a share of its milestone:
    0 on plan, up to 1 with nothing by the milestone, negative ahead of plan (a CCG ahead eases off; the
    pressure, cut at 0, bounds it). Linear in its holders, so a coarse run's lumpy counts give the
    full-scale gap on average; a ratio to the planned number, cut at 0, made small CCGs at one agent per
    50 people look behind far more often."""
    span = max(1, m.plan_end_month - m.plan_start_month)
    frac = min(1.0, max(0.0, (m.month - m.plan_start_month) / span))
    planned = m.plan_start_holders + frac * (m.plan_end_holders - m.plan_start_holders)
    end = m.plan_end_holders
    return np.divide(planned - held, end, out=np.zeros_like(held), where=end > 0)


def monitor(m: RolloutState) -> None:
    """The quarterly assurance round: rank, compare with plan, respond (a no-op before the IAF)."""
    pol, p, t = m.policy, m.p, m.ccgs
    if not pol.assurance or m.months[m.month].month not in QUARTER_MONTHS:
        return
    held = m.holders_by_org()
    per_head = np.divide(held, t.population, out=np.zeros_like(held), where=t.population > 0)
    regions = region_of(m)
    per_head = as_full_scale(per_head, t.population, t.open, regions, m.agent_scale)
    # ties (CCGs with the same count, common when an agent stands for many people) in a new order each quarter
    rank = regional_percentile(per_head, t.open, regions, m.streams["assurance"].random(m.n_orgs))
    gap = plan_gap(m, held) if pol.planning else np.zeros_like(held)
    room = 1.0 - p.pressure_brake * t.pressure * (1.0 - p.funding_follows_target * (m.push_strength > 0))
    t.assurance = np.where(t.open, pressure(rank, gap, room, p), 0.0)
    t.redesignating = np.maximum(t.redesignating, t.open & (t.assurance >= p.redesignation_threshold))
