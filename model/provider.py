"""The provider: one traditional NHS service of one CCG, which lives or dies by its income.

A provider is a Mesa agent because its viability rule is a decision (ODD: "provider viability"); its
numbers live in the service side's arrays (`ServiceSide`), indexed by (service, slot), so the weekly
queues and the monthly ledger stay vectorised over all providers while `step` reads like the rule.
"""

from __future__ import annotations

import mesa
import numpy as np


class Provider(mesa.Agent):
    def __init__(self, model, side, service: int, slot: int, origin_code: str):
        super().__init__(model)
        self.side, self.service, self.slot = side, service, slot
        self.origin_code = origin_code  # the CCG that let the contract in April 2014 (its name in results)

    @property
    def key(self) -> tuple[int, int]:
        return self.service, self.slot

    @property
    def is_open(self) -> bool:
        return bool(self.side.open[self.key])

    @property
    def ccg_index(self) -> int:
        """The commissioner holding the contract now (changes when CCGs merge)."""
        return int(self.side.home[self.key])

    def step(self) -> None:
        """ODD "provider viability": after `viability_months` of income below costs, shed capacity;
        below `closure_threshold` of the starting size, close. A solvent provider whose demand exceeds
        its capacity grows, if its income pays for the extra capacity."""
        s, k, p = self.side, self.key, self.model.p
        if not s.open[k]:
            return
        if s.deficit_months[k] >= p.viability_months:
            s.capacity[k] *= 1.0 - p.shrink_step
            if s.capacity[k] < p.closure_threshold * s.capacity0[k]:
                s.close(*k)
        elif s.demand[k] > s.capacity[k] and s.income[k] >= s.cost_at(k, 1.0 + p.capacity_growth_rate):
            s.capacity[k] *= 1.0 + p.capacity_growth_rate


def step_providers(side, acting: np.ndarray) -> None:
    """`Provider.step` for every acting provider at once (one month's viability rule over the arrays).

    Exactly the result of stepping them one by one in (service, slot) order: capacities change together,
    then closures run in order, each choosing where its waiting list goes while the providers after it
    in that order still have the capacity they had before their own step."""
    p = side.m.p
    cap, before = side.capacity, side.capacity.copy()
    act = acting & side.open
    shrink = act & (side.deficit_months >= p.viability_months)
    grown = cap * (1.0 + p.capacity_growth_rate)
    size = np.divide(grown, side.capacity0, out=np.zeros_like(cap), where=side.capacity0 > 0)
    grow = act & ~shrink & (side.demand > cap) & (side.income >= side.fixed0 * size + side.var_unit * side.served_users)
    cap[shrink] *= 1.0 - p.shrink_step
    cap[grow] *= 1.0 + p.capacity_growth_rate
    for s, j in zip(*np.nonzero(shrink & (cap < p.closure_threshold * side.capacity0))):
        now = cap[s, j + 1:].copy()
        cap[s, j + 1:] = before[s, j + 1:]
        side.close(s, j)
        cap[s, j + 1:] = now
