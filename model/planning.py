"""Support planning (ODD 4.5): first come, first served within each CCG's capacity, and how a budget is held.

Capacity accrues as a credit each month (carried over for at most `planning_carryover_months`). The
number of plans a CCG starts is its credit rounded stochastically (floor(credit + u), u uniform): exact
in expectation at any agent scale, so a coarse run (one agent for many people) serves people at the same
average rate as a full one instead of in lumps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model.counting import WHEELCHAIR
from model.people import CAPACITY, CARER, INF, State

if TYPE_CHECKING:
    from model.rollout import RolloutModel


def accrue(m: "RolloutModel") -> None:
    """This month's capacity joins the credit (what re-designation and planning draw on)."""
    m.capacity = m.ccgs.planning_capacity(m)
    most = m.capacity * (1.0 + m.p.planning_carryover_months) + 1.0
    m.planning_credit = np.minimum(m.planning_credit + m.capacity, most)


def plan(m: "RolloutModel", t: int) -> None:
    ppl = m.people
    idx = ppl.tracked(State.PLANNING)
    u = m.streams["planning"].random(m.n_orgs)
    n_plans = np.maximum(np.floor(m.planning_credit + u), 0)
    if len(idx) == 0:
        return
    org = ppl.org_of(idx)
    order = np.lexsort((idx, ppl.since[idx], org))
    idx, org = idx[order], org[order]
    rank = np.arange(len(idx)) - np.searchsorted(org, org, side="left")
    done = idx[rank < n_plans[org]]
    m.planning_credit -= np.bincount(ppl.org_of(done), minlength=m.n_orgs)
    m.recorder.waited(t, ppl.group[done], t - ppl.since[done])
    start_holding(m, done)


def start_holding(m: "RolloutModel", idx: np.ndarray, legacy: bool = False) -> None:
    """A person's budget starts: how they hold it (ODD: "budget type"); it counts as issued this month."""
    p, ppl = m.p, m.people
    if len(idx) == 0:
        return
    flags, cohort, u = ppl.flags[idx], ppl.cohort_of(idx), ppl.u_type[idx].astype(float)
    supported = (flags & (CARER | CAPACITY)).astype(bool)
    dp_offered = m.ccgs.direct_payments[ppl.org_of(idx)]
    p_dp = np.where(dp_offered & (cohort != WHEELCHAIR),
                    p.direct_payment_preference * np.where(supported, 1.0, p.unsupported_take_up_factor), 0.0)
    rest = np.divide(u - p_dp, 1 - p_dp, out=np.zeros_like(u), where=p_dp < 1)
    third = np.where(cohort == WHEELCHAIR, p.pwb_third_party_share, p.third_party_share)
    kind = np.where(u < p_dp, State.DIRECT_PAYMENT, np.where(rest < third, State.THIRD_PARTY, State.NOTIONAL))
    hold(m, idx, kind.astype(np.int8), legacy)


def hold(m: "RolloutModel", idx: np.ndarray, kind, legacy: bool = False) -> None:
    """Move people into a holding state, pay their budget, and count the issue."""
    ppl = m.people
    ppl.move(idx, kind, m.month)
    ppl.threshold[idx] = INF
    np.add.at(m.spend, ppl.group[idx], ppl.budget[idx].astype(np.int64))
    if not legacy:
        m.recorder.issued(m.month, idx)
