"""Contracts (ODD "contract re-basing"): how commissioners re-set block contracts, so double running is a
transition cost that ends at re-basing, unless the provider is too fragile to be re-based downwards.
Takes the service side (model/services.py) as an argument and never imports it."""

from __future__ import annotations

import numpy as np

from model.queues import steady_backlog
from model.units import WEEKS_PER_YEAR


def rebase(side, t: int, users: dict[str, np.ndarray]) -> None:
    """Commissioners re-base block contracts every `contract_rebase_months` from April: on last year's
    activity, less the care budget-holders now buy themselves (the CCG's plans) and less what the CCG
    has decommissioned. Double running therefore ends at re-basing. A provider already in deficit is
    not re-based downwards (provider fragility): its double running goes on, and the output says so."""
    p, m = side.p, side.m
    side.activity_sum += users["ccg_users"] + users["holders_displaced"]
    side.activity_months += 1
    if t == 0:  # pilot-legacy budgets predate April 2014: their care was already out of the contracts
        side.displaced_base = users["holders_displaced"].copy()
        side.block = np.rint(side.block - (1.0 - p.flexible_contract_share) * side.price[:, None]
                             * side.displaced_base).astype(np.int64)
        return
    date = m.months[t]
    since = (date.year - m.months[0].year) * 12 + date.month - 4
    if t == 0 or date.month != 4 or since % max(int(p.contract_rebase_months), 1) != 0:
        return
    displaced = users["holders_displaced"]
    activity = side.activity_sum / side.activity_months - displaced
    new = np.rint((1.0 - p.flexible_contract_share) * side.price[:, None] * np.maximum(activity, 0.0)).astype(
        np.int64) - side.decommissioned
    new = np.maximum(new, 0)
    fragile = side.deficit_months > 0
    ok = side.open & ~(fragile & (new < side.block))
    side.block = np.where(ok, new, side.block)
    # the contract buys capacity for the activity it funds, at the usual utilisation, plus clearing the
    # waiting list above its steady level within half a year (CCG plans): waits stay in steady state
    funded = np.divide(new, (1.0 - p.flexible_contract_share) * side.price[:, None], out=np.zeros(new.shape),
                       where=side.price[:, None] > 0)
    funded = np.maximum(funded, users["ccg_users"] * (new > 0))  # sized for today's users if more
    referrals = p.referrals_per_user_year / WEEKS_PER_YEAR
    standing = steady_backlog(referrals * funded, referrals * funded / p.initial_utilisation,
                              p.arrival_variability).sum(axis=2)
    extra = np.maximum(side.waiting() - standing, 0.0) / 26.0
    side.capacity = np.where(ok, referrals * funded / p.initial_utilisation + extra, side.capacity)
    side.displaced_base = np.where(ok, displaced, side.displaced_base)
    side.rebased[t] = ok
    side.activity_sum[:] = 0.0
    side.activity_months = 0
