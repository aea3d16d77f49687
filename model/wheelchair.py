"""Personal wheelchair budgets (ODD 4.7): issued at assessment, live only while reviewed.

Each CCG switches its wheelchair service from vouchers to budgets on its own date (a ramp over
`pwb_rollout_months` from April 2017; the December 2019 right makes every service offer them and raises
the offer). A budget is issued at the assessment, with no CCG support planning, mostly as a notional
budget. It "can count as an ongoing PHB if annual reviews are being done" (V2): after each issue or
review the time to the next review is drawn; if it is longer than `pwb_live_months` the budget lapses
then (the person is again a wheelchair user who may be offered one at a later assessment).
"""

from __future__ import annotations

import numpy as np

from model.people import ELIGIBLE, LAPSES, LAST_MONTH, holding
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
    gap = 1 + np.floor(m.streams["wheelchair"].standard_exponential(len(idx)) * MONTHS_PER_YEAR / p.pwb_review_rate)
    lapses = gap > p.pwb_live_months
    ppl.review[idx] = np.minimum(m.month + np.where(lapses, p.pwb_live_months, gap), LAST_MONTH)
    ppl.flags[idx] = np.where(lapses, ppl.flags[idx] | LAPSES, ppl.flags[idx] & ~np.uint8(LAPSES))


def review(m: RolloutState, t: int) -> None:
    """This month's reviews (the budget stays live and counts again) and lapses (it ends)."""
    ppl = m.people
    n = ppl.n
    due = np.flatnonzero(ppl.review[:n] == t)
    if len(due) == 0:
        return
    state = ppl.state[due]
    due = due[holding(state) & (ppl.cohort_of(due) == WHEELCHAIR)]
    lapse = (ppl.flags[due] & LAPSES).astype(bool)
    reviewed, lapsed = due[~lapse], due[lapse]
    m.recorder.reviewed(t, reviewed)
    _next_event(m, reviewed)
    pay_budgets(m, lapsed, -1)
    m.recorder.lapsed(t, ppl.group[lapsed])
    ppl.move(lapsed, ELIGIBLE, t)
    ppl.review[lapsed] = -1
    ppl.threshold[lapsed] = m.hazard[ppl.group[lapsed]] + m.streams["wheelchair"].exponential(1.0, len(lapsed))
