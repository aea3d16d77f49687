"""Support planning (ODD 4.5): each CCG's coordinators share their capacity among the people waiting, and
how a budget is held.

Capacity accrues as a credit each month, carried over for at most `planning_carryover_months`; a CCG starts
with its carried-over capacity unused. The queue is carried twice: the people really waiting (agents), and
the number expected to be waiting (person-equivalents in agents): each month it takes in the acceptances
expected from last month's offers (`expected_acceptances`: the CCG's population share of the people in
England who could be offered × the chance its own offer hazard gave them × the cohort's take-up chance of
those offered), loses the share of the real queue that left, and moves with mergers. Each month a CCG
completes plans for the share min(1, credit / expected queue) of its queue: every waiting person's plan is
completed with that chance (their own uniform for the month), and the credit pays for the expected plans,
not the realised ones. Nothing in the rule depends on how many people an agent stands for: a coarse run's
offers come in lumps (one agent for fifty people), and a queue built from the realised lumps made
coordinators look short where full-scale CCGs had time to spare (1:50 runs were 7-12% low in 2014-15 and
5-6% high in 2020-21 with that rule); one built from the CCG's own agent counts still rose and fell with
the agents waiting (1:50 runs 3-4% low in 2015-16); benchmarks/bench_ensemble.py measures the gap that
remains.
"""

from __future__ import annotations

import numba
import numpy as np

from model.counting import WHEELCHAIR
from model.people import (
    CAPACITY,
    CARER,
    ELIGIBLE,
    DIRECT_PAYMENT,
    INF,
    NOTIONAL,
    OFFERED,
    PLANNING,
    THIRD_PARTY,
)
from model.state import RolloutState


def accrue(m: RolloutState, take_up) -> None:
    """This month's capacity joins the credit (what re-designation and planning draw on, up to what a CCG may
    carry over), and the expected queue takes in the acceptances expected from last month's offers (the offered
    decide next: `take_up` is model.offers.take_up, passed in because offers depends on planning through
    wheelchair budgets)."""
    m.capacity = m.ccgs.planning_capacity(m)
    carried = m.capacity * (1.0 + m.p.planning_carryover_months)  # the most capacity a CCG may carry over
    m.planning_credit = starting_credit(m, carried) if m.month == 0 else np.minimum(m.planning_credit + m.capacity,
                                                                                     carried)
    ppl = m.people
    # since last month's plans some of those waiting have left (died, recovered): the expected queue loses the
    # same share, nationally (a CCG's own share would be as lumpy as its queue; mergers move the expected
    # queue with the organisation, model/mergers.py)
    before, now = float(m.planning_waiting.sum()), float(ppl.counts[PLANNING].sum())
    if before > 0:
        m.planning_queue = m.planning_queue * (now / before)
    offered = ppl.tracked(OFFERED)
    chance = np.zeros(0)
    if len(offered):
        chance = take_up(m, offered)  # of everyone offered: their decisions come next and read these
        m.cache["offered_chances"] = (m.month, offered, chance)
    rise = m.hazard - m.cache.get("hazard_at_accrue", 0.0)  # last month's offer step raised the hazards this much
    m.cache["hazard_at_accrue"] = m.hazard.copy()
    added, m.cache["cohort_chance"] = expected_acceptances(
        rise, ppl.counts[ELIGIBLE], ppl.group[offered], chance, m.population_share(), ppl.n_cohorts,
        m.cache.get("cohort_chance", np.zeros(ppl.n_cohorts)))
    m.planning_queue = m.planning_queue + added


def expected_acceptances(rise: np.ndarray, eligible: np.ndarray, offered_group: np.ndarray, chance: np.ndarray,
                         population_share: np.ndarray, n_cohorts: int,
                         cohort_chance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Acceptances expected from last month's offers, by CCG (agents; wheelchair budgets have no queue): in each
    cohort, the CCG's population share of the people in England who could be offered (still eligible, or
    offered) × the chance its own rise in the offer hazard gave each × the cohort's mean take-up chance of
    those offered in England (last month's where nobody was). Returns (by CCG, the cohorts' mean chances).

    Why national stocks and means, shared by population: a coarse run's CCG holds a few agents of each cohort,
    and its expected queue built from its own counts rose and fell with them, together with the agents really
    waiting; the share of the queue planned, min(1, credit / expected queue), was then lowest where most
    waited, and 1:50 runs issued 3-5% fewer budgets in 2015-16 than full scale (200 paired runs). National
    stocks are the same at any scale, so the rule is too. Compiled (`_expected`) around numpy's expm1."""
    cohort_mean = np.array(cohort_chance, float)
    by_org = np.zeros(len(population_share))
    _expected(-np.expm1(-rise), eligible, offered_group, chance, population_share, n_cohorts, WHEELCHAIR,
              cohort_mean, by_org)
    return by_org, cohort_mean


@numba.njit(cache=True, nogil=True)
def _expected(offer_chance, eligible, offered_group, chance, population_share, n_cohorts, wheelchair, cohort_mean,
              by_org):  # pragma: no cover (compiled)
    """`expected_acceptances` in one pass per step: the offered and their chances by cohort, the cohorts' means
    and stocks over England, then each CCG's sum over its cohorts (in cohort order). `cohort_mean` (in: last
    month's; out) and `by_org` are filled in place."""
    n_offered = np.zeros(n_cohorts)
    chance_sum = np.zeros(n_cohorts)
    for k in range(len(offered_group)):
        n_offered[offered_group[k] % n_cohorts] += 1.0
        chance_sum[offered_group[k] % n_cohorts] += chance[k]
    stock = n_offered.copy()
    for g in range(len(eligible)):
        stock[g % n_cohorts] += eligible[g]
    for c in range(n_cohorts):
        if n_offered[c] > 0:
            cohort_mean[c] = chance_sum[c] / n_offered[c]
    for o in range(len(population_share)):
        acc = 0.0
        for c in range(n_cohorts):
            if c != wheelchair:
                acc += population_share[o] * stock[c] * offer_chance[o * n_cohorts + c] * cohort_mean[c]
        by_org[o] = acc


def starting_credit(m: RolloutState, carried: np.ndarray) -> np.ndarray:
    """No plans were made before the roll-out, so each CCG starts with the capacity it may carry over unused
    (`carried`: 1 + planning_carryover_months months of it)."""
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
