"""The same patient rules written the textbook Mesa way, one `Agent` object per person.

Only for the benchmark: it shows what holding people as numpy arrays buys. CCGs, entries, hazards and
the policy calendar are the real model's; the monthly patient rules (leave, decide on an offer, wait
for a support plan, be offered) run person by person in each agent's `step`.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from model.ccg import MONTHS_PER_YEAR
from model.people import CAPACITY, CARER, FAST_TRACK, State
from model.rollout import CHC, COHORTS, N_COHORTS, WHEELCHAIR, RolloutModel


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

    def step(self) -> None:
        m, t, p = self.model, self.model.month, self.model.p
        if self.state >= State.DIED:
            return
        if self.exit == t:
            fast = self.flags & FAST_TRACK
            death = 1.0 if fast else (p.chc_death_share if self.cohort == CHC else p.other_death_share)
            u = m.rng_exits.random()
            self.state = State.DIED if u < death else (
                State.RECOVERED if u < death + (1 - death) * p.recovery_share else State.LOST_ELIGIBILITY)
        elif self.state == State.OFFERED:
            if self.u_decide < m.take_up_one(self):
                self.state, self.since = State.PLANNING, t
                m.planning.setdefault(self.org, []).append(self)
            else:
                self.state = State.DECLINED
        elif self.state == State.ELIGIBLE and self.threshold <= m.hazard[self.group]:
            self.state, self.since = State.OFFERED, t


class ObjectPerPersonModel(RolloutModel):
    def __init__(self, scenario):
        super().__init__(scenario, services=False)  # patient rules only, like the array run it is set against
        self.rng_exits = self.streams["exits"]
        self.planning: dict[int, list[Patient]] = {}
        self._wrap(np.arange(self.people.n))

    def _wrap(self, idx: np.ndarray) -> None:
        ppl = self.people
        for i in idx:
            Patient(self, ppl.group[i], ppl.state[i], ppl.flags[i], ppl.exit[i], ppl.threshold[i],
                    ppl.u_decide[i], ppl.u_type[i], ppl.budget[i])

    def take_up_one(self, a: Patient) -> float:
        p, org = self.p, a.org
        ccg = self.ccg_by_index[org]
        cap, queue = self._capacity[org], len(self.planning.get(org, ()))
        support = cap / (cap + queue) if cap + queue > 0 else 0.0
        prob = getattr(p, f"take_up_{COHORTS[a.cohort]}") * (1 - p.restrictiveness_take_up_penalty * ccg.restrictiveness)
        prob *= 1 - p.support_take_up_penalty * (1 - support)
        carer, capable = a.flags & CARER, a.flags & CAPACITY
        prob *= p.carer_take_up_factor if carer else 1.0
        prob *= p.unsupported_take_up_factor if not (carer or capable) else 1.0
        prob *= p.fast_track_take_up_factor if a.flags & FAST_TRACK else 1.0
        return min(1.0, max(0.0, prob))

    def step(self) -> None:
        t = self.month
        self._ccgs_learn()
        self._capacity = self._org_vector("planning_capacity")
        before = self.people.n
        self._enter(t)
        self._wrap(np.arange(before, self.people.n))
        intensity = self._org_vector("offer_intensity")
        yearly = np.minimum(np.outer(intensity, self.offer_rates()), 0.999).ravel()
        self.hazard += -np.log1p(-yearly) / MONTHS_PER_YEAR
        self.agents_by_type[Patient].do("step")
        for org, queue in self.planning.items():
            queue[:] = [a for a in queue if a.state == State.PLANNING]
            ccg = self.ccg_by_index.get(org)
            if ccg is None:
                continue
            credit = self.planning_credit
            credit[org] = min(credit[org] + self._capacity[org], self._capacity[org] + 1.0)
            n = min(len(queue), math.floor(credit[org] + 0.5))
            for a in queue[:n]:
                a.state = State.NOTIONAL if a.cohort == WHEELCHAIR else State.DIRECT_PAYMENT
            credit[org] -= n
            del queue[:n]

    def patient_months(self) -> int:
        return self._patient_months

    def run(self, progress=None):
        self._patient_months = 0
        counted = self.env.process(self._count())
        del counted
        return super().run(progress)

    def _count(self):
        for first in self.months:
            yield self.env.timeout(self.day_of(first) + 0.75 - self.env.now)
            self._patient_months += sum(1 for a in self.agents_by_type[Patient] if a.state < State.DIED)
