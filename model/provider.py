"""The provider: one traditional NHS service of one CCG, which lives or dies by its income.

A provider is a Mesa agent because its viability rule is a decision (ODD: "provider viability"); its
numbers live in the service side's arrays (`ServiceSide`), indexed by (service, slot), so the weekly
queues and the monthly ledger stay vectorised over all providers while `step` reads like the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from model.services import ServiceSide


class Provider(mesa.Agent):
    def __init__(self, model, side: "ServiceSide", service: int, slot: int, origin_code: str):
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
