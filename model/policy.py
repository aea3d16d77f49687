"""Policy events (ODD 4.0): what national policy offers, and when, as dated SimPy events.

Each event has the date it takes effect (a register parameter) and the date it was announced (fixed,
from docs/evidence.md). A scenario's `knowledge_date` drops every event announced after it, so a
forecast vintage holds only the policy known when it was made: the 2016 vintage keeps the April 2017
wheelchair offers (announced May 2016) but not the December 2019 rights (announced February 2019).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from model.people import SECTION117, State
from model.population import (
    CHC,
    CHILDREN,
    LEARNING_DISABILITY,
    LONG_TERM,
    MENTAL_HEALTH,
    N_COHORTS,
    WHEELCHAIR,
)
from model.state import RolloutState

D = dt.date


@dataclass(frozen=True)
class Event:
    key: str  # method of Policy that carries it out
    date_parameter: str  # the register parameter holding the date it takes effect
    announced: dt.date  # when it was announced (evidence file), for forecast vintages
    label: str


EVENTS = (
    Event("right_to_ask", "right_to_ask_date", D(2013, 4, 1), "Right to ask for a PHB (CHC, children)"),
    Event("right_to_have", "right_to_have_date", D(2013, 4, 1), "Right to have a PHB (CHC, children)"),
    Event("extend_offer", "extended_offer_date", D(2014, 10, 1), "Offer extended to other groups at CCG discretion"),
    Event("ipc_demonstrators", "ipc_demonstrator_date", D(2014, 7, 1), "Integrated personal commissioning demonstrators"),
    Event("national_push", "national_push_date", D(2016, 3, 1), "Mandate: national push towards the target"),
    Event("iaf", "iaf_date", D(2016, 3, 1), "IAF indicator 105b: CCGs rated and ranked on PHBs per head"),
    Event("plans", "ccg_plans_date", D(2016, 9, 1), "CCG plans to end-2019 monitored quarterly"),
    Event("ipc_early_adopters", "ipc_early_adopter_date", D(2016, 7, 1), "IPC early adopter sites join"),
    Event("wheelchair_offers", "pwb_offer_date", D(2016, 5, 1), "CCGs begin personal wheelchair budget offers"),
    Event("long_term_plan", "ltp_date", D(2019, 1, 1), "Long Term Plan: 200,000 by 2023/24; CCG plans refreshed"),
    Event("chc_default", "chc_default_date", D(2019, 1, 1), "PHB by default for CHC home care"),
    Event("s117_right", "section117_right_date", D(2019, 2, 1), "Right to have: section 117 aftercare"),
    Event("wheelchair_right", "wheelchair_right_date", D(2019, 2, 1), "Right to have: personal wheelchair budgets"),
    Event("covid_start", "covid_start", D(2020, 3, 1), "Covid-19 disruption begins"),
    Event("covid_end", "covid_end", D(2020, 3, 1), "Covid-19 disruption ends"),
    Event("ten_year_plan", "ten_year_plan_date", D(2025, 7, 1), "10 Year Health Plan: 1 million by 2030"),
)


def known_events(p) -> list[Event]:
    """The events a scenario of this vintage knows of."""
    return [e for e in EVENTS if e.announced <= p.knowledge_date]


@dataclass
class Policy:
    """National policy now: changed only by dated events."""

    m: RolloutState
    in_scope: np.ndarray = field(default_factory=lambda: np.arange(N_COHORTS) != WHEELCHAIR)
    rights: np.ndarray = field(default_factory=lambda: np.zeros(N_COHORTS, int))  # 1 ask, 2 have
    discretionary: bool = False
    chc_default: bool = False
    s117_right: bool = False
    pwb_offers: bool = False
    pwb_right: bool = False
    assurance: bool = False  # IAF rating and ranking in force
    planning: bool = False  # CCG trajectories submitted and monitored
    milestone: float = 0.0  # national number the CCG plans add up to, and when
    milestone_date: dt.date | None = None
    _rates: tuple | None = field(default=None, repr=False)  # offer_rates() and the policy it was worked out for

    def schedule(self) -> None:
        m = self.m
        for e in known_events(m.p):
            m.schedule(getattr(m.p, e.date_parameter), e.label, getattr(self, "on_" + e.key))

    # ---- the events ---------------------------------------------------------------------------
    def on_right_to_ask(self) -> None:
        self.rights[[CHC, CHILDREN]] = np.maximum(self.rights[[CHC, CHILDREN]], 1)

    def on_right_to_have(self) -> None:
        self.rights[[CHC, CHILDREN]] = 2

    def on_extend_offer(self) -> None:
        self.discretionary = True

    def on_ipc_demonstrators(self) -> None:
        self._ipc(self.m.ipc_demonstrators)

    def on_ipc_early_adopters(self) -> None:
        self._ipc(self.m.ipc_early_adopters)

    def _ipc(self, sites: np.ndarray) -> None:
        t = self.m.ccgs
        sites = sites[t.open[sites]]
        t.ipc[sites] = True
        t.ipc_from[sites] = np.minimum(t.ipc_from[sites], self.m.month_at_event())

    def on_national_push(self) -> None:
        self.m.push_strength = self.m.p.national_push_strength

    def on_iaf(self) -> None:
        self.assurance = True

    def on_plans(self) -> None:
        self._replan(self.m.p.plan_milestone, self.m.p.plan_milestone_date)

    def on_long_term_plan(self) -> None:
        self._replan(self.m.p.ltp_target, self.m.p.ltp_target_date)

    def on_ten_year_plan(self) -> None:
        self._replan(self.m.p.ten_year_target, self.m.p.ten_year_target_date)

    def _replan(self, target: float, due: dt.date) -> None:
        from model.assurance import submit_plans
        self.planning, self.milestone, self.milestone_date = True, float(target), due
        submit_plans(self.m)

    def on_wheelchair_offers(self) -> None:
        """Wheelchair users come into scope; each CCG's own switch date then starts its offers."""
        self.pwb_offers = True
        self.in_scope[WHEELCHAIR] = True
        m, ppl = self.m, self.m.people
        idx = np.flatnonzero((ppl.state[: ppl.n] == State.NOT_ELIGIBLE) & (ppl.cohort_of(slice(0, ppl.n)) == WHEELCHAIR))
        ppl.move(idx, State.ELIGIBLE, m.month_at_event())
        m.ccgs.pwb_switch_month += m.month_at_event()

    def on_wheelchair_right(self) -> None:
        self.pwb_right = True
        if not self.pwb_offers:
            self.on_wheelchair_offers()
        t = self.m.ccgs
        t.pwb_switch_month = np.minimum(t.pwb_switch_month, self.m.month_at_event())  # the right binds everyone

    def on_chc_default(self) -> None:
        self.chc_default = True

    def on_s117_right(self) -> None:
        """A legal right raises the offer hazard of section 117 people: rescale their remaining threshold."""
        m, ppl = self.m, self.m.people
        idx = np.flatnonzero((ppl.flags[: ppl.n] & SECTION117).astype(bool) & np.isfinite(ppl.threshold[: ppl.n]))
        h = m.hazard[ppl.group[idx]]
        ppl.threshold[idx] = h + (ppl.threshold[idx] - h) / m.p.right_to_have_multiplier
        self.s117_right = True

    def on_covid_start(self) -> None:
        self.m.activity_factor = 1.0 - self.m.p.covid_offer_reduction

    def on_covid_end(self) -> None:
        self.m.activity_factor = 1.0

    # ---- what policy offers now ---------------------------------------------------------------
    def offer_rates(self) -> np.ndarray:
        """Yearly chance of an offer, by cohort, at a fully ready typical CCG, under today's policy
        (wheelchair users: the share of assessments with a budget offer, at a CCG that has switched).
        Worked out again only when the policy it reads has changed (a few times a run; read-only)."""
        key = (self.rights.tobytes(), self.chc_default, self.discretionary, self.pwb_offers, self.pwb_right,
               self.in_scope.tobytes(), self.m.activity_factor)
        if self._rates is None or self._rates[0] != key:
            rates = self._offer_rates()
            rates.flags.writeable = False
            self._rates = (key, rates)
        return self._rates[1]

    def _offer_rates(self) -> np.ndarray:
        p = self.m.p
        rate = np.array([p.offer_rate_chc, p.offer_rate_children, p.offer_rate_mental_health,
                         p.offer_rate_learning_disability, p.offer_rate_long_term, 0.0])
        rate *= np.where(self.rights == 2, p.right_to_have_multiplier, 1.0)
        rate[[CHC, CHILDREN]] *= self.rights[[CHC, CHILDREN]] > 0
        if self.chc_default:
            rate[CHC] *= p.chc_default_multiplier
        for k in (MENTAL_HEALTH, LEARNING_DISABILITY, LONG_TERM):
            rate[k] *= self.discretionary
        if self.pwb_offers:
            share = p.pwb_right_offer_share if self.pwb_right else p.offer_rate_wheelchair
            rate[WHEELCHAIR] = p.wheelchair_assessment_rate * share
        return rate * self.in_scope * self.m.activity_factor

