"""Personal wheelchair budgets (ODD 4.7): issued at assessment, live only while reviewed.

Each CCG switches its wheelchair service from vouchers to budgets on its own date (a ramp over
`pwb_rollout_months` from April 2017; the December 2019 right makes every service offer them and raises
the offer). A budget is issued at the assessment, with no CCG support planning, mostly as a notional
budget. It "can count as an ongoing PHB if annual reviews are being done" (V2): after each issue or
review the time to the next review is drawn; if it is longer than `pwb_live_months` the budget lapses
then (the person is again a wheelchair user who may be offered one at a later assessment).
"""

from __future__ import annotations

import numba
import numpy as np

from model.people import DIRECT_PAYMENT, ELIGIBLE, LAPSES, LAST_MONTH, NOTIONAL
from model.planning import pay_budgets, start_holding
from model.population import WHEELCHAIR
from model.state import RolloutState

MONTHS_PER_YEAR = 12


def issue(m: RolloutState, idx: np.ndarray) -> None:
    """People who accepted a budget at assessment hold one from now."""
    if len(idx) == 0:
        return
    start_holding(m, idx)
    _next_event(m, idx)


def _next_event(m: RolloutState, idx: np.ndarray) -> None:
    """Draw when each budget is next reviewed, or lapses if no review comes while it is live."""
    p, ppl = m.p, m.people
    draw = m.streams["wheelchair"].standard_exponential(len(idx))
    _schedule(idx, draw, p.pwb_review_rate, p.pwb_live_months, m.month, ppl.review, ppl.flags)


def review(m: RolloutState, t: int) -> None:
    """This month's reviews (the budget stays live and counts again) and lapses (it ends)."""
    ppl = m.people
    n = ppl.n
    due = np.flatnonzero(ppl.review[:n] == t)
    if len(due) == 0:
        return
    reviewed, lapsed = _reviews_and_lapses(due, ppl.state, ppl.group, ppl.flags, ppl.n_cohorts, WHEELCHAIR)
    m.recorder.reviewed(t, reviewed)
    _next_event(m, reviewed)
    pay_budgets(m, lapsed, -1)
    m.recorder.lapsed(t, ppl.group[lapsed])
    ppl.move(lapsed, ELIGIBLE, t)
    ppl.review[lapsed] = -1
    ppl.threshold[lapsed] = m.hazard[ppl.group[lapsed]] + m.streams["wheelchair"].exponential(1.0, len(lapsed))


@numba.njit(cache=True, nogil=True)
def _schedule(idx, draw, review_rate, live_months, month, review, flags):  # pragma: no cover (compiled)
    """The next review (a geometric gap in months from `draw`), or a lapse after `live_months` if none comes."""
    for k in range(len(idx)):
        i = idx[k]
        gap = 1 + np.floor(draw[k] * MONTHS_PER_YEAR / review_rate)
        lapses = gap > live_months
        review[i] = np.int16(min(month + (live_months if lapses else gap), LAST_MONTH))
        flags[i] = (flags[i] | LAPSES) if lapses else (flags[i] & ~np.uint8(LAPSES))


@numba.njit(cache=True, nogil=True)
def _reviews_and_lapses(due, state, group, flags, n_cohorts, wheelchair):  # pragma: no cover (compiled)
    """Of the people whose review month it is, the wheelchair budget holders reviewed and those lapsing."""
    reviewed, lapsed = np.empty(len(due), np.int64), np.empty(len(due), np.int64)
    a = b = 0
    for i in due:
        if NOTIONAL <= state[i] <= DIRECT_PAYMENT and group[i] % n_cohorts == wheelchair:
            if flags[i] & LAPSES:
                lapsed[b] = i
                b += 1
            else:
                reviewed[a] = i
                a += 1
    return reviewed[:a].copy(), lapsed[:b].copy()
