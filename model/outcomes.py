"""Outcomes from mechanisms: what a budget lets a person do, and what follows for their quality of life
(ASCOT) and their use of inpatient beds.

Why a matching rule: the pilot evaluation's findings (restrictive sites worse, larger budgets bigger gains,
CHC and mental health the cost-effective groups) must be checked, not imposed. Each holder gets a `match`
(how far what the budget buys matches what they need) from

    adequacy(budget size relative to need) × control(restrictions, budget known up front, way it is held)
    × support(support planning available at their CCG) × help(a carer or the capacity to manage)

and both the ASCOT gain and the fall in inpatient use are proportional to it. Nothing here depends on a
person's cohort except through those inputs and the cohort's inpatient use (register), so the groups'
differences emerge. Rules: docs/services.md ("Outcomes").
"""

from __future__ import annotations

import numba
import numpy as np

from model import parameters as reg
from model.people import CAPACITY, CARER, HOLDING_ROWS, NOTIONAL
from model.units import MONTHS_PER_YEAR, PENCE


HOLD_TYPES = ("notional", "third_party", "direct_payment")
WHEELCHAIR_COHORT = reg.COHORTS.index("wheelchair")
OUTCOME_KEYS = ("holders", "match_sum", "ascot_gain_sum", "bed_days_saved", "budget_pence", "support_pence",
                "cash_pence", "notional_pence", "reclaimed_pence")


def cohort_bed_days(p) -> np.ndarray:
    """Inpatient bed-days a year per person, by cohort (register)."""
    return np.array([getattr(p, f"inpatient_bed_days_{c}") for c in reg.COHORTS], float)


def adequacy(ratio: np.ndarray, scale: float) -> np.ndarray:
    """How far a budget covers need: 1 at a budget equal to need, less below, saturating above
    (money beyond need buys less and less)."""
    scale = max(scale, 1e-9)
    return (1.0 - np.exp(-np.maximum(ratio, 0.0) / scale)) / (1.0 - np.exp(-1.0 / scale))


def need_per_month(p) -> np.ndarray:
    """A typical person's need by cohort, pence a month: the register's default median budget over
    `budget_adequacy`. A scenario that makes budgets larger changes their size relative to need, not the need."""
    return np.array([reg.get(f"budget_median_{c}").default for c in reg.COHORTS]) \
        / MONTHS_PER_YEAR * PENCE / p.budget_adequacy


def type_control(p) -> np.ndarray:
    """Choice and control by way of holding (notional, third party, direct payment), relative to a direct payment."""
    return np.array([p.notional_control, p.third_party_control, 1.0])


def matching_rule(p, budget_ratio: np.ndarray, restrict: np.ndarray, known: np.ndarray, support: np.ndarray,
                  control_of_type: np.ndarray | float = 1.0, helped: np.ndarray | bool = True,
                  spendable: np.ndarray | float = 1.0, org: np.ndarray | None = None) -> np.ndarray:
    """The one matching rule: adequacy × control × support × help. Used for holders (`Outcomes.match`) and
    for the match an offered person expects when deciding to take a budget up (model/offers.py), so a
    restriction lowers take-up and the gain through the same terms.
    budget_ratio: budget / need; spendable: share of the money that finds supply; restrict, known, support: 0–1,
    per person, or per CCG when `org` (each person's CCG) is given: the CCG terms are then combined once per
    CCG and looked up per person (the same numbers, with fewer operations over people)."""
    size = size_term(p, budget_ratio, spendable)
    ccg_control, ccg_support = ccg_terms(p, restrict, known, support)
    if org is not None:
        ccg_control, ccg_support = ccg_control[org], ccg_support[org]
    help_ = np.where(helped, 1.0, p.unsupported_match)
    return size * (ccg_control * control_of_type) * ccg_support * help_


def size_term(p, budget_ratio: np.ndarray, spendable: np.ndarray | float = 1.0) -> np.ndarray:
    """The matching rule's adequacy term: how far the money a holder can spend covers their need."""
    return adequacy(np.maximum(budget_ratio, 0.0) ** p.need_tracking_exponent * spendable, p.adequacy_saturation)


def ccg_terms(p, restrict, known, support) -> tuple:
    """The matching rule's CCG terms: control (restrictions, budget known up front) and support available."""
    control = (1.0 - p.restriction_match_loss * restrict) * (1.0 - p.unknown_budget_match_loss * (1.0 - known))
    return control, 1.0 - p.support_match_loss * (1.0 - support)


def support_cost(p, cohort: np.ndarray, kind: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Support planning and brokerage a holder costs this month, whole pence: the support planner's time (the
    same for a small budget as for a large one; none for a wheelchair budget, issued at the standard
    assessment), plus a third party's management fee on the money it holds."""
    planner = np.where(cohort == WHEELCHAIR_COHORT, 0, planner_pence(p))
    fee = np.where(kind == 1, np.floor(budget * p.third_party_fee_share), 0)
    return (planner + fee).astype(np.int64)


def planner_pence(p) -> int:
    """A support planner's time for one holder for a month, whole pence."""
    return int(round(p.support_cost_per_holder * PENCE / MONTHS_PER_YEAR))


class Outcomes:
    """Per-holder match, ASCOT gain and inpatient use; monthly sums by (CCG, cohort, way held)."""

    def __init__(self, m):
        self.m, self.p = m, m.p
        p = m.p
        n_c = len(reg.COHORTS)
        self.need = need_per_month(p)
        self.bed_days = cohort_bed_days(p)
        self.type_control = type_control(p)
        T = len(m.months)
        # one array (sum, month, cohort, way held), rows in SUMS_ORDER; `rec` names them (views)
        self.sums = np.zeros((len(SUMS_ORDER), T, n_c, len(HOLD_TYPES)))
        self.rec = {k: self.sums[SUMS_ORDER.index(k)] for k in OUTCOME_KEYS}
        self.org_bed_days_holders = np.zeros(m.n_orgs)  # bed-days a year of this month's holders, by CCG
        self.org_ascot = np.zeros(m.n_orgs)
        self.org_notional = np.zeros(m.n_orgs, np.int64)
        self.org_support = np.zeros(m.n_orgs, np.int64)  # support planning and brokerage this month, pence
        self.unspent_share = np.zeros(m.n_orgs)  # last month's budget money holders could not spend, by CCG
        self.cash_by_group = np.zeros(m.n_groups)  # this month's third-party and direct-payment money, pence

    def support_available(self) -> np.ndarray:
        """Support planning available at each CCG (0–1): capacity against the queue expected to be waiting
        (`m.planning_queue`, model/planning.py), as people see it. Not the realised count of agents waiting: at
        one agent for many people that count comes in lumps, and this term is convex in it, so a coarse run
        would see more support on average than a full-scale one."""
        m = self.m
        cap = m._org_vector("planning_capacity")
        queue = m.planning_queue
        return np.divide(cap, cap + queue, out=np.ones(m.n_orgs), where=(cap + queue) > 0)

    def match(self, idx: np.ndarray) -> np.ndarray:
        """The matching rule for people `idx` holding a budget (0 = buys nothing they need, 1 = typical full
        match; can exceed 1 a little when a budget is above need)."""
        ppl = self.m.people
        group = ppl.group[idx]
        org, cohort = group // ppl.n_cohorts, group % ppl.n_cohorts
        kind = ppl.state[idx].astype(np.int64) - NOTIONAL  # the HOLDING states are contiguous: 0, 1, 2
        ratio, spendable, restrict, known, support = self._inputs(idx, org, cohort, kind)
        return matching_rule(self.p, ratio, restrict, known, support, self.type_control[kind],
                             self._helped(idx), spendable, org)

    def _inputs(self, idx, org, cohort, kind) -> tuple:
        """What the matching rule reads for holders `idx`: budget / need, the share of their money that finds
        supply, and their CCGs' restrictions, budgets known up front, and support available (per CCG)."""
        spendable = np.where(kind > 0, 1.0 - self.unspent_share[org], 1.0)  # money with no supply buys nothing
        return (self.m.people.budget[idx] / self.need[cohort], spendable, *self._ccg_inputs())

    def _ccg_inputs(self) -> tuple:
        """The CCG inputs of the matching rule: restrictions, budgets known up front, support available."""
        m = self.m
        known = np.clip(m._org_vector("readiness"), 0.0, 1.0)  # CCGs with processes tell budgets up front
        return m._org_vector("restrictiveness"), known, self.support_available()

    def ccg_terms_now(self) -> tuple[np.ndarray, np.ndarray]:
        """`ccg_terms(p, *self._ccg_inputs())` in one compiled pass over CCGs (`month_ccg_terms`): the same
        numbers, without some twenty small whole-array steps a month."""
        m, p = self.m, self.p
        t = m.ccgs
        control, support = np.empty(m.n_orgs), np.empty(m.n_orgs)
        month_ccg_terms(t.open, t.readiness, t.restrictiveness, t.planning_capacity(m), m.planning_queue,
                        p.restriction_match_loss, p.unknown_budget_match_loss, p.support_match_loss, control, support)
        return control, support

    def _helped(self, idx) -> np.ndarray:
        """Holders with a carer or the capacity to manage their budget."""
        return (self.m.people.flags[idx] & (CARER | CAPACITY)) != 0

    def month(self, t: int) -> None:
        """Sums for this month's holders; also the per-CCG inpatient use and money the service side reads."""
        p, m, ppl = self.p, self.m, self.m.people
        idx = holders_now(ppl.state, ppl.n, HOLD_FIRST, HOLD_LAST)
        if len(idx) == 0:
            self.org_bed_days_holders[:] = 0.0
            self.org_ascot[:] = 0.0
            self.org_notional[:] = 0
            self.org_support[:] = 0
            self.cash_by_group = np.zeros(m.n_groups)
            return
        # the matching rule's size term (`size_term`) step by step: each holder's budget / need (at least 0)
        # and spendable share (compiled), the power and exponential in numpy (numba's differ in the last
        # bit), the rest compiled; then the rule's CCG terms
        scale = max(p.adequacy_saturation, 1e-9)
        if p.need_tracking_exponent in EXACT_POWERS:  # (the default, 0.5, is a square root: exactly rounded)
            covered = np.empty(len(idx))
            holder_cover(idx, ppl.group, ppl.state, ppl.budget, ppl.n_cohorts, int(NOTIONAL), self.need,
                         self.unspent_share, p.need_tracking_exponent == 0.5, scale, covered)
        else:
            ratio, spendable = np.empty(len(idx)), np.empty(len(idx))
            holder_terms(idx, ppl.group, ppl.state, ppl.budget, ppl.n_cohorts, int(NOTIONAL), self.need,
                         self.unspent_share, ratio, spendable)
            covered = ratio ** p.need_tracking_exponent
            scaled_cover(covered, spendable, scale)
        size = np.exp(covered)  # `holder_sums` makes it adequacy: (1 − exp) / (1 − exp(−1 / scale))
        control, support = self.ccg_terms_now()
        n_keys = len(reg.COHORTS) * len(HOLD_TYPES)
        by_key, by_org = np.zeros((len(KEY_SUMS), n_keys)), np.zeros((len(ORG_SUMS), m.n_orgs))
        self.cash_by_group = np.zeros(m.n_groups)
        holder_sums(idx, ppl.group, ppl.state, ppl.budget, ppl.flags, ppl.n_cohorts, int(NOTIONAL),
                    int(CARER | CAPACITY), size, 1.0 - np.exp(-1.0 / scale), control, support, self.type_control,
                    p.unsupported_match, p.ascot_gain_per_match, p.inpatient_reduction_per_match, self.bed_days,
                    float(planner_pence(p)), WHEELCHAIR_COHORT,
                    p.third_party_fee_share, self.unspent_share, by_key, by_org, self.cash_by_group)
        # scaled to the population; each (cohort, way held) cell sums one way of holding, so the cash and
        # notional sums are its columns; sums of whole pence below 2**53 are exact in float64, so the float
        # sums are the integer sums
        n = m.n_orgs
        self.org_bed_days_holders, self.org_ascot = np.empty(n), np.empty(n)
        self.org_notional, self.org_support = np.empty(n, np.int64), np.empty(n, np.int64)
        scaled_sums(by_key, by_org, float(m.agent_scale), int(m.agent_scale), len(HOLD_TYPES), self.sums[:, t],
                    self.org_bed_days_holders, self.org_ascot, self.org_notional, self.org_support)


KEY_SUMS = ("holders", "match_sum", "ascot_gain_sum", "bed_days_saved", "budget_pence", "support_pence",
            "reclaimed_pence")  # summed by (cohort, way held)
ORG_SUMS = ("bed_days", "ascot_gain", "notional_pence", "support_pence")  # summed by CCG, for the service side


HOLD_FIRST, HOLD_LAST = HOLDING_ROWS.start, HOLDING_ROWS.stop - 1  # the holding states, contiguous (model/people.py)


@numba.njit(cache=True, nogil=True)
def holders_now(state, n, first, last):  # pragma: no cover (compiled)
    """The people (of the first `n`) in states `first`..`last`, in index order: `People.where(*HOLDING)`'s
    indices in one pass over the states instead of three whole-array steps and a search for the nonzero."""
    out = np.empty(n, np.int64)
    span = np.uint8(last - first)
    k = 0
    for i in range(n):
        out[k] = i  # kept only if person i holds a budget (no branch: holders are a few in a hundred)
        k += np.uint8(state[i] - first) <= span  # first <= state <= last, as one unsigned comparison
    return out[:k].copy()


SUMS_ORDER = KEY_SUMS + ("cash_pence", "notional_pence")  # rows of `Outcomes.sums`
assert sorted(SUMS_ORDER) == sorted(OUTCOME_KEYS)
assert ORG_SUMS == ("bed_days", "ascot_gain", "notional_pence", "support_pence")  # the rows `scaled_sums` reads
BUDGET_ROW = KEY_SUMS.index("budget_pence")


@numba.njit(cache=True, nogil=True)
def month_ccg_terms(open_, readiness, restrictiveness, cap, queue, restriction_loss, unknown_loss, support_loss,
                    control, support):  # pragma: no cover (compiled)
    """The matching rule's CCG terms (`ccg_terms`) from the CCG arrays (`_ccg_inputs`), operation for
    operation: restrictions and readiness (0 where no CCG is open; readiness clipped to 0–1), support
    available from planning capacity `cap` against the planning queue expected by CCG (`queue`)."""
    n = len(open_)
    for o in range(n):
        known = readiness[o] if open_[o] else 0.0
        known = min(max(known, 0.0), 1.0) if not np.isnan(known) else known  # np.clip
        restrict = restrictiveness[o] if open_[o] else 0.0
        total = cap[o] + queue[o]
        avail = cap[o] / total if total > 0 else 1.0
        control[o] = (1.0 - restriction_loss * restrict) * (1.0 - unknown_loss * (1.0 - known))
        support[o] = 1.0 - support_loss * (1.0 - avail)


@numba.njit(cache=True, nogil=True)
def holder_terms(idx, group, state, budget, n_cohorts, notional, need, unspent, ratio, spendable):  # pragma: no cover
    """Per holder `idx`: budget / need, at least 0 (`ratio`), and the share of the money that finds supply (`spendable`;
    a notional budget is NHS provision, always spendable), as the whole-array steps computed them."""
    for i in range(len(idx)):
        g = group[idx[i]]
        r = budget[idx[i]] / need[g % n_cohorts]
        ratio[i] = r if (r >= 0.0 or np.isnan(r)) else 0.0  # np.maximum(r, 0.0)
        spendable[i] = 1.0 - unspent[g // n_cohorts] if state[idx[i]] - notional > 0 else 1.0


EXACT_POWERS = (0.5, 1.0)  # x ** 0.5 is numpy's sqrt and x ** 1.0 is x: the same numbers compiled (tested)


@numba.njit(cache=True, nogil=True)
def holder_cover(idx, group, state, budget, n_cohorts, notional, need, unspent, root, scale,
                 covered):  # pragma: no cover (compiled)
    """`holder_terms`, the power (a square root if `root`, else 1) and `scaled_cover` in one pass over
    holders `idx`: −max(ratio ** exponent × spendable, 0) / scale, the numbers of the three steps."""
    for i in range(len(idx)):
        g = group[idx[i]]
        r = budget[idx[i]] / need[g % n_cohorts]
        r = r if (r >= 0.0 or np.isnan(r)) else 0.0  # np.maximum(r, 0.0)
        if root:
            r = np.sqrt(r)
        spendable = 1.0 - unspent[g // n_cohorts] if state[idx[i]] - notional > 0 else 1.0
        x = r * spendable
        covered[i] = -(x if (x >= 0.0 or np.isnan(x)) else 0.0) / scale


@numba.njit(cache=True, nogil=True)
def scaled_cover(covered, spendable, scale):  # pragma: no cover (compiled)
    """In place, `adequacy`'s exponent: −max(covered × spendable, 0) / scale (the same operations)."""
    for i in range(len(covered)):
        x = covered[i] * spendable[i]
        covered[i] = -(x if (x >= 0.0 or np.isnan(x)) else 0.0) / scale


@numba.njit(cache=True, nogil=True)
def scaled_sums(by_key, by_org, w, scale, n_kinds, sums_t, bed_days, ascot, notional, support):  # pragma: no cover
    """The month's sums scaled to the population (`Outcomes.month`): rows KEY_SUMS of `sums_t` (SUMS_ORDER,
    cohort, way held) from `by_key` × w, then cash (third party, direct payment) and notional budget money as
    the budget sums' columns; per CCG from `by_org`: bed-days and ASCOT gain × w, pence (whole) × scale."""
    n_rows, n_c, _ = sums_t.shape
    n_key = by_key.shape[0]
    for r in range(n_key):
        for c in range(n_c):
            for k in range(n_kinds):
                sums_t[r, c, k] = by_key[r, c * n_kinds + k] * w
    for c in range(n_c):
        for k in range(n_kinds):
            budget = sums_t[BUDGET_ROW, c, k]
            sums_t[n_key, c, k] = budget if k > 0 else 0.0  # cash_pence
            sums_t[n_key + 1, c, k] = budget if k == 0 else 0.0  # notional_pence
    for o in range(by_org.shape[1]):
        bed_days[o] = by_org[0, o] * w
        ascot[o] = by_org[1, o] * w
        notional[o] = np.int64(by_org[2, o]) * scale
        support[o] = np.int64(by_org[3, o]) * scale


@numba.njit(cache=True, nogil=True)
def holder_sums(idx, group_of, state, budget_of, flags, n_cohorts, notional, help_flags, e, denominator, control, support,
                type_control, unsupported, gain_per_match, fall_per_match, bed_days, planner_pence, wheelchair,
                fee_share, unspent, by_key, by_org, cash_by_group):  # pragma: no cover (compiled)
    """Each holder's match (`matching_rule`: size × control × support × help) and what follows from it
    (ASCOT gain, inpatient use, support cost, money reclaimed), summed in one pass over holders `idx` in index
    order: by (cohort, way held) into `by_key` (rows: KEY_SUMS), by CCG into `by_org` (rows: ORG_SUMS) and
    cash by group. The same arithmetic, in the same order, as the whole-array steps it replaced (tested);
    compiled (numba), because a national run has ~100,000 holders every month. `e`: each holder's
    exp(−covered / scale); the size term is (1 − e) / `denominator` (`adequacy`)."""
    n_kinds = len(type_control)
    for i in range(len(idx)):
        p = idx[i]
        g = group_of[p]
        o, c = g // n_cohorts, g % n_cohorts
        kind = np.int64(state[p]) - notional  # the HOLDING states are contiguous: 0, 1, 2
        k = c * n_kinds + kind
        help_ = 1.0 if (flags[p] & help_flags) != 0 else unsupported
        size = (1.0 - e[i]) / denominator
        match = size * (control[o] * type_control[kind]) * support[o] * help_
        gain = gain_per_match * match  # over a year, on top of the gain people make without a budget
        fall = min(max(fall_per_match * match, 0.0), 1.0)
        beds = bed_days[c]
        pence = float(budget_of[p])
        planner = 0.0 if c == wheelchair else planner_pence
        fee = np.floor(pence * fee_share) if kind == 1 else 0.0
        support_pence = float(np.int64(planner + fee))
        by_key[0, k] += 1.0
        by_key[1, k] += match
        by_key[2, k] += gain
        by_key[3, k] += beds * fall / 12.0
        by_key[4, k] += pence
        by_key[5, k] += support_pence
        by_key[6, k] += pence * unspent[o] if kind > 0 else 0.0  # money no supply could absorb goes back
        by_org[0, o] += beds * (1.0 - fall)
        by_org[1, o] += gain
        by_org[3, o] += support_pence
        if kind > 0:
            cash_by_group[g] += pence
        else:
            by_org[2, o] += pence


def cost_effectiveness(outcomes, months: int = MONTHS_PER_YEAR, by: str | list = "cohort",
                       threshold: float = 20_000.0):
    """Per cohort (or way held, or both) over the last `months`: holders, mean match, ASCOT gain a year against
    no budget, and the net cost to the NHS a holder-year, split: budget paid out − the holder's own package it
    replaces (the budget is set at its cost) − money reclaimed unspent + support − inpatient beds avoided. A
    notional budget is the contract, so only support and beds count. `gbp_per_ascot_point`: net cost per
    ASCOT point gained (the quality-adjusted outcome); negative = saves money and gains quality of life."""
    import pandas as pd

    last = sorted(outcomes["month"].unique())[-months:]
    t = outcomes[outcomes["month"].isin(last)]
    cols = ["holders", "ascot_gain_sum", "cash_gbp", "displaced_care_gbp", "reclaimed_gbp", "support_gbp",
            "inpatient_saved_gbp", "match_sum"]
    g = t.groupby(by, sort=False)[cols].sum()
    n = len(last)
    hy = (g["holders"] / MONTHS_PER_YEAR).where(g["holders"] > 0)
    parts = pd.DataFrame({
        "budget_minus_package": (g["cash_gbp"] - g["displaced_care_gbp"]) / hy,
        "reclaimed": -g["reclaimed_gbp"] / hy,
        "support": g["support_gbp"] / hy,
        "inpatient_saved": -g["inpatient_saved_gbp"] / hy,
    })
    out = pd.DataFrame({
        "holders": g["holders"] / n,
        "mean_match": g["match_sum"] / g["holders"].where(g["holders"] > 0),
        "ascot_gain": g["ascot_gain_sum"] / g["holders"].where(g["holders"] > 0),
        "net_cost_per_holder_year": parts.sum(axis=1, min_count=1),
    })
    out = out.join(parts.add_prefix("net_"))
    out["inpatient_saved_per_holder_year"] = -parts["inpatient_saved"]
    out["gbp_per_ascot_point"] = out["net_cost_per_holder_year"] / out["ascot_gain"]
    out["verdict"] = np.where(out["net_cost_per_holder_year"] <= 0, "cost-saving with a gain",
                              np.where(out["gbp_per_ascot_point"] < threshold, "cost-effective", "costs more"))
    return out
