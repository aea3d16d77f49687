"""The monthly ledger: every pound a CCG spends on the PHB cohorts' services, in integer pence.

Why integer pence: the critics' charge is about money (double running, services cut to fund budgets),
so the ledger must add up exactly; the conservation tests check it to the penny every month.

CCG spend = traditional contracts + double running + PHB payments − money reclaimed + support/brokerage.
Double running is the part of a block contract that pays for care budget-holders (third-party and direct
payments) have taken out of it since the contract was last re-based; it ends at re-basing. A notional
budget is NHS provision (its holder is served under the contract), so it is a memo item, never paid
twice. Budget money a holder cannot spend (no supply yet) is reclaimed by the CCG.
The CCG's decommissioning decision (ODD "CCG decommissioning") is `CCG.decommission_drive` (model/ccg.py);
the ledger turns it into pounds cut from block contracts.
"""

from __future__ import annotations

import numpy as np

from model.units import MONTHS_PER_YEAR, PENCE  # noqa: F401  (PENCE: callers import it from here)

# per-CCG monthly items, pence
LEDGER_ITEMS = ("contracts", "contracts_inpatient", "double_running", "phb_payments", "phb_reclaimed", "support", "total", "phb_notional",
                "phb_nhs", "phb_outside", "non_traditional", "non_evidence", "decommissioned")


class Ledger:
    """Monthly money flows by CCG (T × orgs), and the pence each provider received this month."""

    def __init__(self, n_months: int, n_orgs: int):
        self.items = {k: np.zeros((n_months, n_orgs), np.int64) for k in LEDGER_ITEMS}
        self.market_supply = np.zeros(n_orgs)  # non-NHS supply, pence a month it can absorb

    def month(self, side, t: int, phb_by_org: np.ndarray, notional_by_org: np.ndarray,
              users: dict[str, np.ndarray], drive: np.ndarray) -> None:
        """Pay providers for the month, split PHB payments, and let CCGs decommission (in that order).
        `side`: the service side (model/services.py), passed in so this module never imports it."""
        p, open_ = side.p, side.open
        n_orgs = len(phb_by_org)
        flex = p.flexible_contract_share
        price = side.price[:, None]
        ccg_users, phb_pence = users["ccg_users"], users["phb_pence"]
        home = side.home

        # what each provider's users are worth: CCG pays block + flexible share (open), or spot price (closed)
        flex_paid = np.where(open_, np.rint(flex * price * ccg_users), 0).astype(np.int64)
        block_paid = np.where(open_, side.block, 0).astype(np.int64)
        routed = side.route >= 0
        spot = np.where(~open_ & routed, np.rint(price * ccg_users), 0).astype(np.int64)
        phb_nhs = np.where(open_ | routed, np.floor(phb_pence * p.phb_nhs_spend_share), 0).astype(np.int64)
        displaced = np.maximum(users["holders_displaced"] - side.displaced_base, 0.0)
        double_running = np.where(open_, np.minimum(side.block, np.rint((1.0 - flex) * price * displaced)),
                                  0).astype(np.int64)

        income = block_paid + flex_paid + phb_nhs * open_
        # closed providers' users are bought from the provider they were routed to
        dest = np.where(routed, side.route, 0)
        for s in range(side.n_services):
            closed = ~open_[s] & routed[s]
            if closed.any():
                np.add.at(income[s], dest[s][closed], spot[s][closed] + phb_nhs[s][closed])
        side.income[:] = income

        def by_org(x: np.ndarray) -> np.ndarray:
            return _sum_int(home.ravel(), x.ravel(), n_orgs)

        payments = by_org(block_paid + flex_paid + spot)
        dr = by_org(double_running)
        nhs = by_org(phb_nhs)
        phb = phb_by_org.astype(np.int64)
        notional = np.asarray(notional_by_org, np.int64)
        cash = phb - notional  # third-party and direct payments: money paid out of the NHS's contracts
        demand_out = cash - nhs
        # non-NHS supply grows towards demand at the market's pace (personal assistants, voluntary sector)
        self.market_supply += p.market_development_rate / MONTHS_PER_YEAR * np.maximum(
            demand_out - self.market_supply, 0)
        outside = np.minimum(demand_out, np.floor(self.market_supply).astype(np.int64))
        support = np.asarray(side.outcomes.org_support, np.int64)  # per holder, model/outcomes.py support_cost
        it = self.items
        reclaimed = demand_out - outside
        side.outcomes.unspent_share = np.divide(reclaimed, cash, out=np.zeros(n_orgs), where=cash > 0)
        it["contracts"][t] = payments - dr
        # the inpatient part of the contracts (a memo: inside `contracts`): where avoided admissions show
        inpatient = np.zeros_like(block_paid)
        inpatient[side.inpatient] = (block_paid + flex_paid + spot - double_running)[side.inpatient]
        it["contracts_inpatient"][t] = by_org(inpatient)
        it["double_running"][t] = dr
        it["phb_payments"][t] = cash
        it["phb_reclaimed"][t] = reclaimed
        it["phb_notional"][t] = notional
        it["support"][t] = support
        it["total"][t] = payments + cash - reclaimed + support
        it["phb_nhs"][t] = nhs
        it["phb_outside"][t] = outside
        it["non_traditional"][t] = np.floor(phb * p.non_traditional_share).astype(np.int64)
        it["non_evidence"][t] = np.floor(phb * p.non_evidence_share).astype(np.int64)
        side.double_running[:] = double_running

        # CCG decommissioning: cut block contracts until the recurring cut reaches the share of the PHB
        # funding gap the CCG's drive and propensity set (never un-cut; at most decommission_max_share a year)
        # money the displaced care frees: the flexible share at once, the block share once re-based
        freed = flex * price * users["holders_displaced"] + (1.0 - flex) * price * side.displaced_base
        released = _sum_int(home.ravel(), np.rint(freed).astype(np.int64).ravel(), n_orgs)
        gap = np.maximum(cash - reclaimed + support + dr - released, 0)
        target = np.floor(p.decommission_propensity * drive * gap).astype(np.int64)
        done = _sum_int(home.ravel(), side.decommissioned.ravel(), n_orgs)
        cuttable = np.where(open_ & side.cuttable[:, None], side.block, 0)
        cuttable_org = _sum_int(home.ravel(), cuttable.ravel(), n_orgs)
        monthly_cap = 1.0 - (1.0 - p.decommission_max_share) ** (1.0 / MONTHS_PER_YEAR)
        cut_org = np.minimum(np.maximum(target - done, 0), np.floor(monthly_cap * cuttable_org).astype(np.int64))
        share = np.divide(cuttable, cuttable_org[home], out=np.zeros(cuttable.shape), where=cuttable_org[home] > 0)
        cut = np.floor(cut_org[home] * share).astype(np.int64)
        side.block -= cut
        side.decommissioned += cut
        it["decommissioned"][t] = _sum_int(home.ravel(), cut.ravel(), n_orgs)


def _sum_int(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact integer group sums (bincount's weights are floats, which can lose pence)."""
    out = np.zeros(n, np.int64)
    np.add.at(out, keys, values.astype(np.int64))
    return out
