"""Contracts (ODD "contract re-basing"): how commissioners re-set block contracts, so double running is a
transition cost that ends at re-basing, unless the provider is too fragile to be re-based downwards.
Takes the service side (model/services.py) as an argument and never imports it."""

from __future__ import annotations

import numba
import numpy as np

from model.queues import WAIT_BUCKETS
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
    extra = np.empty(funded.shape)  # capacity to clear, over half a year, what waits beyond the standing list
    backlog_excess(side.waiting_list.reshape(WAIT_BUCKETS, -1), referrals * funded,
                   referrals * funded / p.initial_utilisation, p.arrival_variability ** 2, extra.reshape(-1))
    side.capacity = np.where(ok, referrals * funded / p.initial_utilisation + extra, side.capacity)
    side.displaced_base = np.where(ok, displaced, side.displaced_base)
    side.rebased[t] = ok
    side.activity_sum[:] = 0.0
    side.activity_months = 0


@numba.njit(cache=True, nogil=True)
def backlog_excess(lists, demand, capacity, variance, out):  # pragma: no cover (compiled)
    """max(waiting − standing, 0) / 26 for each provider (`out`): waiting, the people on its list (`lists`:
    weeks waited, provider); standing, the steady-state list of a provider with this demand and capacity
    (model/queues.py `steady_backlog`, summed over weeks). Both sums over the 53 weeks are numpy's pairwise
    sums (`_column_sums`), so the numbers are those of `waiting()` and `steady_backlog(...).sum`."""
    n_rows, n = lists.shape
    d, c = demand.ravel(), capacity.ravel()
    weeks = np.empty(n)
    for j in range(n):
        x = c[j] - d[j]
        spare = x if (x >= 1e-9 or np.isnan(x)) else 1e-9  # np.maximum(capacity - demand, 1e-9)
        mean = variance * d[j] / (2.0 * spare)
        top = d[j] * (n_rows - 1)
        mean = mean if (mean <= top or np.isnan(mean)) else top  # np.minimum
        weeks[j] = mean / d[j] if d[j] > 0 else 0.0
    fill = np.empty((n_rows, n))  # the standing list, a week's arrivals to a bucket
    for k in range(n_rows):
        for j in range(n):
            w = weeks[j] - float(k)
            w = w if (w > 0.0 or np.isnan(w)) else 0.0  # np.clip(w, 0, 1), as numpy clips
            w = w if (w < 1.0 or np.isnan(w)) else 1.0
            fill[k, j] = w * d[j]
    waiting, standing = np.empty(n), np.empty(n)
    _column_sums(lists, waiting)
    _column_sums(fill, standing)
    for j in range(n):
        excess = waiting[j] - standing[j]
        out[j] = (excess if (excess >= 0.0 or np.isnan(excess)) else 0.0) / 26.0


@numba.njit(cache=True, nogil=True)
def _column_sums(a, out):  # pragma: no cover (compiled)
    """numpy's sum of each column of `a` (8 to 128 rows; `out`): eight partial sums, combined pairwise, then the
    rest, as numpy sums a contiguous block; worked a row at a time across all columns, so reads are contiguous."""
    n_rows, n = a.shape
    r = a[:8].copy()
    i = 8
    while i < n_rows - (n_rows % 8):
        for m in range(8):
            for j in range(n):
                r[m, j] += a[i + m, j]
        i += 8
    for j in range(n):
        out[j] = ((r[0, j] + r[1, j]) + (r[2, j] + r[3, j])) + ((r[4, j] + r[5, j]) + (r[6, j] + r[7, j]))
    while i < n_rows:
        for j in range(n):
            out[j] += a[i, j]
        i += 1
