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

import numba
import numpy as np

from model.units import MONTHS_PER_YEAR, PENCE  # noqa: F401  (PENCE: callers import it from here)

# per-CCG monthly items, pence
LEDGER_ITEMS = ("contracts", "contracts_inpatient", "double_running", "phb_payments", "phb_reclaimed", "support", "total", "phb_notional",
                "phb_nhs", "phb_outside", "non_traditional", "non_evidence", "decommissioned")


class Ledger:
    """Monthly money flows by CCG (T × orgs), and the pence each provider received this month."""

    def __init__(self, n_months: int, n_orgs: int):
        # one array (item, month, CCG); `items` names its rows (views, so writes go to `flows`)
        self.flows = np.zeros((len(LEDGER_ITEMS), n_months, n_orgs), np.int64)
        self.items = {k: self.flows[i] for i, k in enumerate(LEDGER_ITEMS)}
        self.market_supply = np.zeros(n_orgs)  # non-NHS supply, pence a month it can absorb

    def month(self, side, t: int, phb_by_org: np.ndarray, notional_by_org: np.ndarray,
              users: dict[str, np.ndarray], drive: np.ndarray) -> None:
        """Pay providers for the month, split PHB payments, and let CCGs decommission (in that order).
        `side`: the service side (model/services.py), passed in so this module never imports it.
        The rules are `ledger_month` (compiled: about 40 small whole-array steps a month cost more than
        the arithmetic)."""
        p = side.p
        monthly_cap = 1.0 - (1.0 - p.decommission_max_share) ** (1.0 / MONTHS_PER_YEAR)  # pow stays in numpy
        side.outcomes.unspent_share = np.zeros(len(phb_by_org))
        ledger_month(
            self.flows, t, side.open, side.block, side.route, side.price, users["ccg_users"], users["phb_pence"],
            users["holders_displaced"], side.displaced_base, side.home, side.cuttable, side.inpatient,
            side.income, side.double_running, side.decommissioned, phb_by_org, np.asarray(notional_by_org, np.int64),
            np.asarray(side.outcomes.org_support, np.int64), np.asarray(drive, float), self.market_supply,
            side.outcomes.unspent_share, p.flexible_contract_share, p.phb_nhs_spend_share,
            p.market_development_rate / MONTHS_PER_YEAR, p.non_traditional_share, p.non_evidence_share,
            p.decommission_propensity, monthly_cap)


I = {k: i for i, k in enumerate(LEDGER_ITEMS)}
_CONTRACTS, _INPATIENT, _DR, _PHB, _RECLAIMED, _SUPPORT, _TOTAL, _NOTIONAL, _NHS, _OUTSIDE, _NON_TRAD, \
    _NON_EVIDENCE, _DECOMMISSIONED = (I[k] for k in LEDGER_ITEMS)


@numba.njit(cache=True, nogil=True)
def _max(a, b):  # np.maximum's choice (the first if equal), for identical signed zeros
    return a if a >= b else b


@numba.njit(cache=True, nogil=True)
def _min(a, b):  # np.minimum's choice (the first if equal)
    return a if a <= b else b


@numba.njit(cache=True, nogil=True)
def ledger_month(out, t, open_, block, route, price, ccg_users, phb_pence, holders_displaced, displaced_base,
                 home, cuttable_service, inpatient, income, double_running, decommissioned, phb_by_org,
                 notional, support, drive, market_supply, unspent_share, flex, nhs_share, market_rate,
                 non_traditional_share, non_evidence_share, propensity, monthly_cap):  # pragma: no cover
    """One month of the ledger over every provider (service, slot) and CCG, in place: providers' income,
    double running and decommissioned stocks, the block contracts, market supply, unspent share, and row
    `t` of every ledger item in `out` (item, month, CCG). The arithmetic of the whole-array steps it
    replaced, operation for operation (tested bit for bit); CCG sums are integer pence, so exact."""
    ns, nj = open_.shape
    n_orgs = len(phb_by_org)
    payments = np.zeros(n_orgs, np.int64)
    dr = np.zeros(n_orgs, np.int64)
    nhs = np.zeros(n_orgs, np.int64)
    inpatient_org = np.zeros(n_orgs, np.int64)
    released = np.zeros(n_orgs, np.int64)
    done = np.zeros(n_orgs, np.int64)
    cuttable_org = np.zeros(n_orgs, np.int64)
    spot_nhs = np.zeros((ns, nj), np.int64)
    # what each provider's users are worth: CCG pays block + flexible share (open), or spot price (closed)
    for s in range(ns):
        pr = price[s]
        flex_price, fixed_price = flex * pr, (1.0 - flex) * pr
        for j in range(nj):
            o = home[s, j]
            is_open = open_[s, j]
            routed = route[s, j] >= 0
            cu = ccg_users[s, j]
            flex_paid = np.int64(np.rint(flex_price * cu)) if is_open else np.int64(0)
            block_paid = block[s, j] if is_open else np.int64(0)
            spot = np.int64(np.rint(pr * cu)) if (not is_open and routed) else np.int64(0)
            phb_nhs = np.int64(np.floor(phb_pence[s, j] * nhs_share)) if (is_open or routed) else np.int64(0)
            displaced = _max(holders_displaced[s, j] - displaced_base[s, j], 0.0)
            d_run = np.int64(_min(float(block[s, j]), np.rint(fixed_price * displaced))) if is_open else np.int64(0)
            income[s, j] = block_paid + flex_paid + (phb_nhs if is_open else 0)
            spot_nhs[s, j] = spot + phb_nhs
            double_running[s, j] = d_run
            paid = block_paid + flex_paid + spot
            payments[o] += paid
            dr[o] += d_run
            nhs[o] += phb_nhs
            if s == inpatient:
                inpatient_org[o] += paid - d_run
            # money the displaced care frees: the flexible share at once, the block share once re-based
            freed = flex_price * holders_displaced[s, j] + fixed_price * displaced_base[s, j]
            released[o] += np.int64(np.rint(freed))
            done[o] += decommissioned[s, j]
            if is_open and cuttable_service[s]:
                cuttable_org[o] += block[s, j]
    # closed providers' users are bought from the provider they were routed to
    for s in range(ns):
        for j in range(nj):
            if not open_[s, j] and route[s, j] >= 0:
                income[s, route[s, j]] += spot_nhs[s, j]
    for o in range(n_orgs):
        phb = np.int64(phb_by_org[o])
        cash = phb - notional[o]  # third-party and direct payments: money paid out of the NHS's contracts
        demand_out = cash - nhs[o]
        # non-NHS supply grows towards demand at the market's pace (personal assistants, voluntary sector)
        market_supply[o] += market_rate * _max(demand_out - market_supply[o], 0.0)
        outside = min(demand_out, np.int64(np.floor(market_supply[o])))
        reclaimed = demand_out - outside
        unspent_share[o] = reclaimed / cash if cash > 0 else 0.0
        out[_CONTRACTS, t, o] = payments[o] - dr[o]
        out[_INPATIENT, t, o] = inpatient_org[o]
        out[_DR, t, o] = dr[o]
        out[_PHB, t, o] = cash
        out[_RECLAIMED, t, o] = reclaimed
        out[_NOTIONAL, t, o] = notional[o]
        out[_SUPPORT, t, o] = support[o]
        out[_TOTAL, t, o] = payments[o] + cash - reclaimed + support[o]
        out[_NHS, t, o] = nhs[o]
        out[_OUTSIDE, t, o] = outside
        out[_NON_TRAD, t, o] = np.int64(np.floor(phb * non_traditional_share))
        out[_NON_EVIDENCE, t, o] = np.int64(np.floor(phb * non_evidence_share))
        # CCG decommissioning: cut block contracts until the recurring cut reaches the share of the PHB
        # funding gap the CCG's drive and propensity set (never un-cut; at most decommission_max_share a year)
        gap = max(cash - reclaimed + support[o] + dr[o] - released[o], 0)
        target = np.int64(np.floor(propensity * drive[o] * gap))
        # cut_org, kept in `released` (no longer needed)
        released[o] = min(max(target - done[o], 0), np.int64(np.floor(monthly_cap * cuttable_org[o])))
        out[_DECOMMISSIONED, t, o] = 0
    for s in range(ns):
        for j in range(nj):
            o = home[s, j]
            c = block[s, j] if (open_[s, j] and cuttable_service[s]) else np.int64(0)
            share = c / cuttable_org[o] if cuttable_org[o] > 0 else 0.0
            cut = np.int64(np.floor(released[o] * share))
            block[s, j] -= cut
            decommissioned[s, j] += cut
            out[_DECOMMISSIONED, t, o] += cut
