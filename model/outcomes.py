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

import numpy as np

from model import parameters as reg
from model.people import CAPACITY, CARER, HOLDING, NOTIONAL, State
from model.units import MONTHS_PER_YEAR, PENCE


HOLD_TYPES = ("notional", "third_party", "direct_payment")
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
    size = adequacy(np.maximum(budget_ratio, 0.0) ** p.need_tracking_exponent * spendable, p.adequacy_saturation)
    ccg_control = (1.0 - p.restriction_match_loss * restrict) * (1.0 - p.unknown_budget_match_loss * (1.0 - known))
    ccg_support = 1.0 - p.support_match_loss * (1.0 - support)
    if org is not None:
        ccg_control, ccg_support = ccg_control[org], ccg_support[org]
    help_ = np.where(helped, 1.0, p.unsupported_match)
    return size * (ccg_control * control_of_type) * ccg_support * help_


def support_cost(p, cohort: np.ndarray, kind: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Support planning and brokerage a holder costs this month, whole pence: the support planner's time (the
    same for a small budget as for a large one; none for a wheelchair budget, issued at the standard
    assessment), plus a third party's management fee on the money it holds."""
    planner = np.where(cohort == reg.COHORTS.index("wheelchair"), 0,
                       int(round(p.support_cost_per_holder * PENCE / MONTHS_PER_YEAR)))
    fee = np.where(kind == 1, np.floor(budget * p.third_party_fee_share), 0)
    return (planner + fee).astype(np.int64)


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
        self.rec = {k: np.zeros((T, n_c, len(HOLD_TYPES))) for k in OUTCOME_KEYS}
        self.org_bed_days_holders = np.zeros(m.n_orgs)  # bed-days a year of this month's holders, by CCG
        self.org_ascot = np.zeros(m.n_orgs)
        self.org_notional = np.zeros(m.n_orgs, np.int64)
        self.org_support = np.zeros(m.n_orgs, np.int64)  # support planning and brokerage this month, pence
        self.unspent_share = np.zeros(m.n_orgs)  # last month's budget money holders could not spend, by CCG
        self.cash_by_group = np.zeros(m.n_groups)  # this month's third-party and direct-payment money, pence

    def support_available(self) -> np.ndarray:
        """Support planning available at each CCG (0–1): capacity against the queue, as people see it."""
        m = self.m
        cap = m._org_vector("planning_capacity")
        queue = m.people.counts[State.PLANNING].reshape(m.n_orgs, -1).sum(axis=1)
        return np.divide(cap, cap + queue, out=np.ones(m.n_orgs), where=(cap + queue) > 0)

    def match(self, idx: np.ndarray, org: np.ndarray | None = None, cohort: np.ndarray | None = None,
              kind: np.ndarray | None = None) -> np.ndarray:
        """The matching rule for people `idx` holding a budget (0 = buys nothing they need, 1 = typical full
        match; can exceed 1 a little when a budget is above need). `org`, `cohort`, `kind` (way held, 0–2):
        the holders' own, when the caller has them already."""
        p, m, ppl = self.p, self.m, self.m.people
        org = ppl.org_of(idx) if org is None else org
        cohort = ppl.cohort_of(idx) if cohort is None else cohort
        kind = np.clip(ppl.state[idx].astype(int) - int(State.NOTIONAL), 0, 2) if kind is None else kind
        flags = ppl.flags[idx]
        spendable = np.where(kind > 0, 1.0 - self.unspent_share[org], 1.0)  # money with no supply buys nothing
        ratio = ppl.budget[idx] / self.need[cohort]
        known = np.clip(m._org_vector("readiness"), 0.0, 1.0)  # CCGs with processes tell budgets up front
        return matching_rule(p, ratio, m._org_vector("restrictiveness"), known, self.support_available(),
                             self.type_control[kind], (flags & (CARER | CAPACITY)).astype(bool), spendable, org)

    def month(self, t: int) -> None:
        """Sums for this month's holders; also the per-CCG inpatient use and money the service side reads."""
        p, m, ppl = self.p, self.m, self.m.people
        idx = ppl.where(*HOLDING)
        n_c = len(reg.COHORTS)
        if len(idx) == 0:
            self.org_bed_days_holders[:] = 0.0
            self.org_ascot[:] = 0.0
            self.org_notional[:] = 0
            self.org_support[:] = 0
            self.cash_by_group = np.zeros(m.n_groups)
            return
        group = ppl.group[idx]
        org, cohort = group // ppl.n_cohorts, group % ppl.n_cohorts
        kind = ppl.state[idx].astype(np.int64) - NOTIONAL  # the HOLDING states are contiguous: 0, 1, 2
        mt = self.match(idx, org, cohort, kind)
        w = float(m.agent_scale)
        gain = p.ascot_gain_per_match * mt  # over a year, on top of the gain people make without a budget
        fall = np.clip(p.inpatient_reduction_per_match * mt, 0.0, 1.0)
        beds = self.bed_days[cohort]
        budget = ppl.budget[idx].astype(np.int64)
        key = cohort * len(HOLD_TYPES) + kind
        n = n_c * len(HOLD_TYPES)
        cash = kind > 0

        def by_key(x=None):
            return np.bincount(key, weights=x, minlength=n).reshape(n_c, len(HOLD_TYPES)) * w
        r = self.rec
        r["holders"][t] = by_key()
        r["match_sum"][t] = by_key(mt)
        r["ascot_gain_sum"][t] = by_key(gain)
        r["bed_days_saved"][t] = by_key(beds * fall / MONTHS_PER_YEAR)
        budget_sum = by_key(budget)
        r["budget_pence"][t] = budget_sum
        support = support_cost(p, cohort, kind, budget)
        r["support_pence"][t] = by_key(support)
        # each (cohort, way held) cell sums one way of holding, so the cash and notional sums are its columns
        r["cash_pence"][t] = np.where(np.arange(len(HOLD_TYPES)) > 0, budget_sum, 0.0)
        r["notional_pence"][t] = np.where(np.arange(len(HOLD_TYPES)) == 0, budget_sum, 0.0)
        # money a holder cannot spend (no supply at their CCG, last month's share) goes back to the CCG
        r["reclaimed_pence"][t] = by_key(np.where(cash, budget * self.unspent_share[org], 0.0))
        self.org_bed_days_holders = np.bincount(org, weights=beds * (1.0 - fall), minlength=m.n_orgs) * w
        self.org_ascot = np.bincount(org, weights=gain, minlength=m.n_orgs) * w
        # sums of whole pence below 2**53 are exact in float64, so bincount gives the integer sums
        self.cash_by_group = np.bincount(group[cash], weights=budget[cash], minlength=m.n_groups)
        notional = ~cash
        self.org_notional = np.bincount(org[notional], weights=budget[notional], minlength=m.n_orgs).astype(np.int64) \
            * m.agent_scale
        self.org_support = np.bincount(org, weights=support, minlength=m.n_orgs).astype(np.int64) * m.agent_scale


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
