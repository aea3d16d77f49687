"""Support planning (ODD 4.5): each CCG's coordinators share their capacity among the people waiting, and
how a budget is held.

Capacity accrues as a credit each month (carried over for at most `planning_carryover_months`, plus one
agent's worth so a coarse agent can always be served); a CCG starts with its carried-over capacity unused.
The queue is carried twice: the people really waiting (agents), and the number expected to be waiting
given the history so far (person-equivalents: this month's offered people come in with their chance of
accepting; leavers and mergers scale it with the real queue). Each month a CCG completes plans for the share
min(1, credit / expected queue) of its queue: every waiting person's plan is completed with that chance
(their own uniform for the month), and the credit pays for the expected plans, not the realised ones. The
rule is linear in the number of agents, so a coarse run (one agent for many people) serves people at the
rate a full one does: a lumpy agent of ten people no longer takes a whole agent's credit at once and queues
the next one behind it (`floor(credit + u)`, the rule before, left 1:10 runs up
to 5% low in 2015-16; benchmarks/bench_ensemble.py measures the gap that remains).
"""

from __future__ import annotations

import numba
import numpy as np

from model.counting import WHEELCHAIR
from model.people import (
    CAPACITY,
    CARER,
    DIRECT_PAYMENT,
    INF,
    NOTIONAL,
    OFFERED,
    PLANNING,
    THIRD_PARTY,
)
from model.state import RolloutState


def accrue(m: RolloutState, take_up) -> None:
    """This month's capacity joins the credit (what re-designation and planning draw on), and the expected
    queue takes in this month's expected acceptances (the offered decide next: `take_up` is
    model.offers.take_up, passed in because offers depends on planning through wheelchair budgets)."""
    m.capacity = m.ccgs.planning_capacity(m)
    carried = m.capacity * (1.0 + m.p.planning_carryover_months)  # the most capacity a CCG may carry over
    if m.month == 0:
        m.planning_credit = starting_credit(m, carried)
    else:  # plus one agent's worth, so a coarse agent can always be served
        m.planning_credit = np.minimum(m.planning_credit + m.capacity, carried + 1.0)
    ppl = m.people
    # the real queue after last month's plans (`planning_waiting`) has since lost leavers and gained or lost
    # people in mergers: the expected queue follows it in proportion
    m.planning_queue = _follow(m.planning_queue, _waiting_by_org(m), m.planning_waiting)
    offered = ppl.tracked(OFFERED)
    if len(offered):
        chance = take_up(m, offered)  # of everyone offered: their decisions come next and read these
        m.cache["offered_chances"] = (m.month, offered, chance)
        # a wheelchair budget is issued at assessment: no queue
        m.planning_queue = _expect(m.planning_queue, offered, chance, ppl.group, ppl.n_cohorts, WHEELCHAIR)


def starting_credit(m: RolloutState, carried: np.ndarray) -> np.ndarray:
    """No plans were made before the roll-out, so each CCG starts with the capacity it may carry over unused
    (`carried`: 1 + planning_carryover_months months of it). Not the cap's extra agent, an allowance for
    coarse agents and not capacity (given at the start, it let coarse runs plan one agent per CCG too many
    wherever planning binds: 1:50 ensembles up to 14% high in 2015-17). Starting with none left a coarse
    run's first agents waiting longer than a full-scale run's people (tests/test_throughput.py)."""
    return np.where(m.ccgs.open, carried, 0.0)


def _waiting_by_org(m: RolloutState) -> np.ndarray:
    return _by_org(m.people.counts[PLANNING], m.n_orgs, m.people.n_cohorts)


def plan(m: RolloutState, t: int) -> None:
    ppl = m.people
    idx = np.sort(ppl.tracked(PLANNING))  # index order: one draw per person, whatever path they came by
    share, m.planning_credit, m.planning_queue = _shares(m.planning_credit, m.planning_queue)
    done = _completed(idx, person_uniforms(m, idx, t), share, ppl.group, ppl.n_cohorts)
    m.recorder.waited(t, ppl.group[done], t - ppl.since[done])
    start_holding(m, done)
    m.planning_waiting = _waiting_by_org(m)


def person_uniforms(m: RolloutState, idx: np.ndarray, t: int) -> np.ndarray:
    """One uniform per (person, month), hashed from a key drawn once from the planning stream (splitmix64):
    the draws do not depend on how many people wait, so two scenarios keep common random numbers (people
    have the same indices in both: entries and exits are policy-free)."""
    return _hashed_uniforms(np.asarray(idx, np.int64), np.uint64(t), _planning_key(m))


def _planning_key(m: RolloutState) -> np.uint64:
    key = m.cache.get("planning_key")
    if key is None:
        key = m.cache["planning_key"] = np.uint64(m.streams["planning"].integers(0, 2**63))
    return key


@numba.njit(cache=True, nogil=True)
def _hashed_uniforms(idx, t, key):  # pragma: no cover (compiled: the same 64-bit integer steps as numpy's)
    out = np.empty(len(idx))
    for k in range(len(idx)):
        z = np.uint64(idx[k]) * np.uint64(0x9E3779B97F4A7C15) + t * np.uint64(0xD1B54A32D192ED03) + key
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        out[k] = np.float64(z >> np.uint64(11)) * 2.0**-53
    return out


def start_holding(m: RolloutState, idx: np.ndarray, legacy: bool = False) -> None:
    """A person's budget starts: how they hold it (ODD: "budget type"); it counts as issued this month."""
    p, ppl = m.p, m.people
    if len(idx) == 0:
        return
    kind = _budget_types(idx, ppl.flags, ppl.group, ppl.u_type, m.ccgs.direct_payments, ppl.n_cohorts, WHEELCHAIR,
                         CARER | CAPACITY, p.direct_payment_preference, p.unsupported_take_up_factor,
                         p.third_party_share, p.pwb_third_party_share)
    hold(m, idx, kind, legacy)


def hold(m: RolloutState, idx: np.ndarray, kind, legacy: bool = False) -> None:
    """Move people into a holding state, pay their budget, and count the issue."""
    ppl = m.people
    ppl.move(idx, kind, m.month)
    ppl.threshold[idx] = INF
    pay_budgets(m, idx, +1)
    if not legacy:
        m.recorder.issued(m.month, idx)


def pay_budgets(m: RolloutState, idx: np.ndarray, sign: int) -> None:
    """Start (`sign` +1) or stop (-1) paying the monthly budgets of people `idx` (`m.spend`, pence by group)."""
    _pay(idx, sign, m.people.group, m.people.budget, m.spend)


@numba.njit(cache=True, nogil=True)
def _pay(idx, sign, group, budget, spend):  # pragma: no cover (compiled: exact integer pence, no fixed cost per call)
    for i in idx:
        spend[group[i]] += sign * np.int64(budget[i])


@numba.njit(cache=True, nogil=True)
def _budget_types(idx, flags, group, u_type, direct_payments, n_cohorts, wheelchair, supported_bits, preference,
                  unsupported_factor, third_party_share, pwb_third_party_share):  # pragma: no cover (compiled)
    """How each person holds their budget, from their own uniform `u_type`: a direct payment with chance
    p_dp (where their CCG offers them; less without a carer or capacity), else through a third party with
    the cohort's share of the rest, else notional. Compiled: one pass instead of a dozen numpy calls. The same
    odds are in offers._expected_terms (what an offered person expects): change both together."""
    kind = np.empty(len(idx), np.int8)
    for k in range(len(idx)):
        i = idx[k]
        cohort = group[i] % n_cohorts
        u = np.float64(u_type[i])
        p_dp = 0.0
        if direct_payments[group[i] // n_cohorts] and cohort != wheelchair:
            p_dp = preference * (1.0 if flags[i] & supported_bits else unsupported_factor)
        rest = (u - p_dp) / (1 - p_dp) if p_dp < 1 else 0.0
        third = pwb_third_party_share if cohort == wheelchair else third_party_share
        kind[k] = DIRECT_PAYMENT if u < p_dp else (THIRD_PARTY if rest < third else NOTIONAL)
    return kind


# ---- the queue's bookkeeping by CCG, compiled (numba): a dozen numpy calls a month on 200-odd CCGs cost more
# than the work; the same arithmetic in the same order --------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _by_org(row, n_orgs, n_cohorts):  # pragma: no cover (compiled)
    """A count by group summed over each CCG's cohorts, as floats."""
    out = np.zeros(n_orgs)
    for o in range(n_orgs):
        total = 0
        for g in range(o * n_cohorts, (o + 1) * n_cohorts):
            total += row[g]
        out[o] = total
    return out


@numba.njit(cache=True, nogil=True)
def _follow(queue, waiting, before):  # pragma: no cover (compiled)
    """The expected queue scaled as the real one changed since last month's plans (or set to it)."""
    out = np.empty(len(queue))
    for o in range(len(queue)):
        out[o] = queue[o] * (waiting[o] / before[o]) if before[o] > 0 else waiting[o]
    return out


@numba.njit(cache=True, nogil=True)
def _expect(queue, offered, chance, group, n_cohorts, wheelchair):  # pragma: no cover (compiled)
    """The expected queue plus this month's offered people (not wheelchair users), each with their chance."""
    added = np.zeros(len(queue))
    for k in range(len(offered)):
        g = group[offered[k]]
        if g % n_cohorts != wheelchair:
            added[g // n_cohorts] += chance[k]
    return queue + added


@numba.njit(cache=True, nogil=True)
def _shares(credit, queue):  # pragma: no cover (compiled)
    """Each CCG's share of its queue planned this month, min(1, credit / expected queue), and the credit and
    expected queue left once the expected plans are paid for."""
    n = len(queue)
    share, left, waiting = np.empty(n), np.empty(n), np.empty(n)
    for o in range(n):
        s = credit[o] / queue[o] if queue[o] > 0 else 1.0
        share[o] = min(max(s, 0.0), 1.0)
        expected = share[o] * queue[o]
        left[o] = credit[o] - expected
        waiting[o] = queue[o] - expected
    return share, left, waiting


@numba.njit(cache=True, nogil=True)
def _completed(idx, uniforms, share, group, n_cohorts):  # pragma: no cover (compiled)
    """The waiting people whose plan is completed: their uniform for the month under their CCG's share."""
    out = np.empty(len(idx), np.int64)
    k = 0
    for j in range(len(idx)):
        if uniforms[j] < share[group[idx[j]] // n_cohorts]:
            out[k] = idx[j]
            k += 1
    return out[:k].copy()
