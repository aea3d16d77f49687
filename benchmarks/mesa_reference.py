"""The same patient rules written the textbook Mesa way, one `Agent` object per person.

Only for the benchmark: it shows what holding people as numpy arrays buys. CCGs (their arrays, learning
and assurance), entries, offer hazards, planning capacity and the policy calendar are the real model's;
the monthly patient rules of the new core — leave, decide on an offer (or take a wheelchair budget at
assessment), wait for a support plan (a share of each CCG's queue, from its credit and expected queue), have a package
re-designated, be offered — run person by person in each agent's `step`, with queues and tallies kept
in Python containers. Wheelchair reviews are not modelled person by person: the benchmark window (April
2014 – March 2015) ends before any wheelchair budget exists.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from model import assurance, ccg, population
from model import parameters as reg
from model.offers import MAX_YEARLY_CHANCE, MONTHS_PER_YEAR
from model.outcomes import matching_rule, need_per_month, type_control
from model.planning import expected_acceptances, person_uniforms
from model.people import CAPACITY, CARER, FAST_TRACK, INTEGRATED, PACKAGE, REDESIGNATED, State
from model.rollout import CHC, N_COHORTS, WHEELCHAIR, RolloutModel

HOLDING_STATES = (State.NOTIONAL, State.THIRD_PARTY, State.DIRECT_PAYMENT)


class Patient(mesa.Agent):
    def __init__(self, model, group, state, flags, exit_month, threshold, u_decide, u_type, budget):
        super().__init__(model)
        self.group, self.state, self.flags = int(group), int(state), int(flags)
        self.exit, self.threshold = int(exit_month), float(threshold)
        self.u_decide, self.u_type, self.budget = float(u_decide), float(u_type), int(budget)
        self.since = model.month

    @property
    def org(self) -> int:
        return self.group // N_COHORTS

    @property
    def cohort(self) -> int:
        return self.group % N_COHORTS

    def leave(self) -> None:
        m, p = self.model, self.model.p
        if self.state >= State.DIED or self.exit != m.month:
            return
        death = 1.0 if self.flags & FAST_TRACK else (p.chc_death_share if self.cohort == CHC else p.other_death_share)
        u = m.rng_exits.random()
        self.state = State.DIED if u < death else (
            State.RECOVERED if u < death + (1 - death) * p.recovery_share else State.LOST_ELIGIBILITY)

    def decide(self) -> None:
        m = self.model
        if self.state != State.OFFERED or self.since == m.month:
            return
        if self.u_decide < m.take_up_one(self):
            if self.cohort == WHEELCHAIR:
                m.hold_one(self)
            else:
                self.state, self.since = State.PLANNING, m.month
                m.queues.setdefault(self.org, []).append(self)
        else:
            self.state, self.since = State.DECLINED, m.month

    def redesignate(self, monthly: float) -> None:
        m = self.model
        if not (self.flags & PACKAGE) or self.state not in (State.ELIGIBLE, State.DECLINED):
            return
        if not m.deciding[self.org] or m.rng_redesignation.random() >= monthly:
            return
        self.flags |= REDESIGNATED | (INTEGRATED if m.ccgs.ipc[self.org] else 0)
        m.planning_credit[self.org] -= m.p.redesignation_planning_weight
        self.state, self.since = State.NOTIONAL, m.month

    def offer(self) -> None:
        m = self.model
        if self.state == State.ELIGIBLE and self.threshold <= m.hazard32[self.group]:
            self.state, self.since, self.threshold = State.OFFERED, m.month, math.inf


class ObjectPerPersonModel(RolloutModel):
    def __init__(self, scenario):
        super().__init__(scenario, services=False)  # patient rules only, like the array run it is set against
        self.rng_exits = self.streams["exits"]
        self.rng_redesignation = self.streams["redesignation"]
        self.queues: dict[int, list[Patient]] = {}
        self._patient_months = 0
        self._wrap(np.arange(self.people.n))

    def _wrap(self, idx: np.ndarray) -> None:
        ppl = self.people
        for i in idx:
            a = Patient(self, ppl.group[i], ppl.state[i], ppl.flags[i], ppl.exit[i], ppl.threshold[i],
                        ppl.u_decide[i], ppl.u_type[i], ppl.budget[i])
            a.index = int(i)

    def hold_one(self, a: Patient) -> None:
        """How the budget is held (the same rule as planning.start_holding, for one person)."""
        p = self.p
        supported = bool(a.flags & (CARER | CAPACITY))
        dp = bool(self.ccgs.direct_payments[a.org]) and a.cohort != WHEELCHAIR
        p_dp = p.direct_payment_preference * (1.0 if supported else p.unsupported_take_up_factor) if dp else 0.0
        rest = (a.u_type - p_dp) / (1 - p_dp) if p_dp < 1 else 0.0
        third = p.pwb_third_party_share if a.cohort == WHEELCHAIR else p.third_party_share
        a.state = State.DIRECT_PAYMENT if a.u_type < p_dp else (State.THIRD_PARTY if rest < third else State.NOTIONAL)
        a.since = self.month

    def _org_tallies(self) -> None:
        """Queue, in-scope and holding counts per CCG, counted person by person (what take-up reads)."""
        self.queue_len = np.zeros(self.n_orgs)
        self.in_scope = np.zeros(self.n_orgs)
        self.held = np.zeros(self.n_orgs)
        for a in self.agents_by_type[Patient]:
            if a.state == State.PLANNING:
                self.queue_len[a.org] += 1
            if State.ELIGIBLE <= a.state <= State.DECLINED:
                self.in_scope[a.org] += 1
            if a.state in HOLDING_STATES:
                self.held[a.org] += 1

    def _accrue(self) -> None:
        """planning.accrue person by person: capacity joins the credit; the expected queue loses the national
        share of leavers and takes in the acceptances expected from last month's offers (each offered person's
        chance of accepting, summed by group here; planning.expected_acceptances does the arithmetic by group)."""
        self.capacity = self.ccgs.planning_capacity(self)
        most = self.capacity * (1.0 + self.p.planning_carryover_months)
        if self.month == 0:  # each CCG starts with its carried-over capacity unused
            self.planning_credit = np.where(self.ccgs.open, most, 0.0)
        else:
            self.planning_credit = np.minimum(self.planning_credit + self.capacity, most)
        self._org_tallies()
        before, now = float(self.planning_waiting.sum()), float(self.queue_len.sum())
        if before > 0:
            self.planning_queue = self.planning_queue * (now / before)
        self.queue_seen = self.planning_queue.copy()  # what this month's offered see (before the new acceptances)
        eligible = np.zeros(self.n_groups, np.int64)
        offered, chance = [], []
        for a in self.agents_by_type[Patient]:  # creation order is index order
            if a.state == State.ELIGIBLE:
                eligible[a.group] += 1
            elif a.state == State.OFFERED:
                offered.append(a.group)
                chance.append(self.take_up_one(a))
        rise = self.hazard - self.cache.get("hazard_at_accrue", 0.0)
        self.cache["hazard_at_accrue"] = self.hazard.copy()
        added, self.cache["cohort_chance"] = expected_acceptances(
            rise, eligible, np.array(offered, np.int64), np.array(chance, float), self.population_share(), N_COHORTS,
            self.cache.get("cohort_chance", np.zeros(N_COHORTS)))
        self.planning_queue = self.planning_queue + added

    def take_up_one(self, a: Patient) -> float:
        p, org = self.p, a.org
        cap, queue = self.capacity[org], self.queue_seen[org]  # the queue expected, as the real model reads it
        support = cap / (cap + queue) if cap + queue > 0 else 0.0
        share = self.held[org] / self.in_scope[org] if self.in_scope[org] > 0 else 0.0
        peer = min(1.0, share / p.peer_saturation_share)
        # the expected match (model/outcomes.py matching rule), person by person
        supported = bool(a.flags & (CARER | CAPACITY))
        dp = bool(self.ccgs.direct_payments[org]) and a.cohort != WHEELCHAIR
        p_dp = p.direct_payment_preference * (1.0 if supported else p.unsupported_take_up_factor) if dp else 0.0
        third = p.pwb_third_party_share if a.cohort == WHEELCHAIR else p.third_party_share
        ctl = type_control(p)
        likely = p_dp * ctl[2] + (1.0 - p_dp) * (third * ctl[1] + (1.0 - third) * ctl[0])
        known = min(max(float(self.ccgs.readiness[org]), 0.0), 1.0)
        ratio = a.budget / need_per_month(p)[a.cohort]
        expected = float(matching_rule(p, np.array([ratio]), self.ccgs.restrictiveness[org], known, support, likely)[0])
        prob = getattr(p, f"take_up_{reg.COHORTS[a.cohort]}") * (expected / p.take_up_reference_match) \
            ** p.take_up_match_elasticity
        prob *= 1 + p.peer_take_up_boost * peer
        carer, capable = a.flags & CARER, a.flags & CAPACITY
        prob *= p.carer_take_up_factor if carer else 1.0
        prob *= p.unsupported_take_up_factor if not (carer or capable) else 1.0
        prob *= p.fast_track_take_up_factor if a.flags & FAST_TRACK else 1.0
        return min(1.0, max(0.0, prob))

    def step(self) -> None:
        t = self.month
        patients = self.agents_by_type[Patient]
        ccg.learn(self)
        assurance.monitor(self)
        patients.do("leave")
        before = self.people.n
        population.enter(self, t)
        self._wrap(np.arange(before, self.people.n))
        self._accrue()
        patients.do("decide")
        share = np.ones(self.n_orgs)
        for org in range(self.n_orgs):  # the share of each CCG's queue its credit pays for (planning.plan)
            q = self.planning_queue[org]
            if q > 0:
                share[org] = min(1.0, max(0.0, self.planning_credit[org] / q))
            self.planning_credit[org] -= share[org] * q
            self.planning_queue[org] = q - share[org] * q
        waiting = sorted((a for a in patients if a.state == State.PLANNING), key=lambda a: a.index)
        u = person_uniforms(self, np.array([a.index for a in waiting], np.int64), t)
        for a, ui in zip(waiting, u):
            if ui < share[a.org]:
                self.hold_one(a)
        self.planning_waiting = np.zeros(self.n_orgs)
        for a in patients:
            if a.state == State.PLANNING:
                self.planning_waiting[a.org] += 1
        ccgs = self.ccgs
        self.deciding = ccgs.open & ((ccgs.redesignating > 0) | (ccgs.ipc & (ccgs.ipc_from <= t)))
        if self.deciding.any() and self.p.redesignation_rate > 0:
            monthly = 1.0 - (1.0 - min(self.p.redesignation_rate, 0.999)) ** (1 / MONTHS_PER_YEAR)
            patients.do("redesignate", monthly)
        yearly = np.outer(ccgs.offer_intensity(self), self.policy.offer_rates())
        switched = ccgs.open & (ccgs.pwb_switch_month <= t)
        yearly[:, WHEELCHAIR] = np.where(switched, self.policy.offer_rates()[WHEELCHAIR], 0.0)
        self.hazard += -np.log1p(-np.minimum(yearly, MAX_YEARLY_CHANCE).ravel()) / MONTHS_PER_YEAR
        self.hazard32 = self.hazard.astype(np.float32)
        patients.do("offer")
        self._patient_months += sum(1 for a in patients if a.state < State.DIED)

    def holders(self) -> int:
        return sum(1 for a in self.agents_by_type[Patient] if a.state in HOLDING_STATES)

    def patient_months(self) -> int:
        return self._patient_months
