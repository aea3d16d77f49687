"""CCG mergers and boundary moves (ODD 4.9): people, budgets and policy pass to the successor.

Real dates from the shipped transition table: 211 CCGs in 2014 down to 106 in 2021 and 42 ICBs in July
2022. A boundary move sends each person to one successor by the share of the area that moves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from model.ccg import add_agent, successor
from model.people import State
from model.population import N_COHORTS
from model.state import RolloutState


@dataclass(frozen=True)
class MergerPlan:
    """One date's transitions as organisation indices (built once per geography, not once per run)."""

    from_idx: np.ndarray  # per transition row, in the table's order
    to_idx: np.ndarray
    share: np.ndarray
    first_target: list[tuple[int, int]]  # (source, its first target), sources in code order
    splits: list[tuple[int, np.ndarray, np.ndarray]]  # (source, targets, shares summing to 1)
    predecessors: list[tuple[str, list[tuple[int, float]]]]  # by successor code, sorted
    closing: list[int]  # organisations that close
    contract_heir: list[tuple[int, int]]  # (source, the target taking most of its people): who takes its contracts


def merger_plan(m: RolloutState, date: dt.date) -> MergerPlan:
    """The cached plan for `date` (the geography is loaded once per process and read-only)."""
    plans = m.geo.__dict__.setdefault("_merger_plans", {})  # frozen dataclass: cache beside its fields
    if date not in plans:
        moves = m.geo.transitions_on(date)
        predecessors: dict[str, list[tuple[int, float]]] = {}
        first, splits, heirs = [], [], []
        for from_code, rows in moves.groupby("from_code", sort=True):
            src = m.org_index[from_code]
            targets = np.array([m.org_index[c] for c in rows["to_code"]])
            shares = rows["share"].to_numpy(float)
            heirs.append((src, int(targets[np.argsort(-shares, kind="stable")[0]])))
            for c, s in zip(rows["to_code"], shares):
                predecessors.setdefault(c, []).append((src, s))
            first.append((src, int(targets[0])))
            if len(targets) > 1:
                splits.append((src, targets, shares / shares.sum()))
        closing = sorted(set(moves["from_code"]) - set(moves["to_code"]))
        plans[date] = MergerPlan(
            from_idx=np.array([m.org_index[c] for c in moves["from_code"]], np.int64),
            to_idx=np.array([m.org_index[c] for c in moves["to_code"]], np.int64),
            share=moves["share"].to_numpy(float), first_target=first, splits=splits,
            predecessors=sorted(predecessors.items()), closing=[m.org_index[c] for c in closing],
            contract_heir=heirs)
    return plans[date]


def merge(m: RolloutState, date: dt.date) -> None:
    plan = merger_plan(m, date)
    ppl, rng, t = m.people, m.streams["mergers"], m.ccgs
    org = ppl.group[: ppl.n] // N_COHORTS
    new_org = np.arange(m.n_orgs)
    for src, target in plan.first_target:
        new_org[src] = target
    new_org = new_org[org]
    live = ppl.state[: ppl.n] < State.DIED
    for src, targets, shares in plan.splits:
        sel = np.flatnonzero(live & (org == src))
        new_org[sel] = targets[rng.choice(len(targets), size=len(sel), p=shares)]
    moved = np.flatnonzero(live & (new_org != org))
    old_group = ppl.group[moved].astype(np.int64)
    new_group = new_org[moved] * N_COHORTS + old_group % N_COHORTS
    waiting = np.isfinite(ppl.threshold[moved])  # keep each person's remaining distance to an offer
    ppl.threshold[moved[waiting]] += m.hazard[new_group[waiting]] - m.hazard[old_group[waiting]]
    ppl.reassign(moved, new_group.astype(np.intp))
    for code, preds in plan.predecessors:
        idx = m.org_index[code]
        if idx in m.ccg_by_index and all(i != idx for i, _ in preds):  # a CCG that continues and takes in others
            preds = preds + [(idx, 1.0)]
        successor(m, idx, preds)
        if idx not in m.ccg_by_index:
            add_agent(m, code)
    for i in plan.closing:
        t.open[i] = False
        ccg = m.ccg_by_index.pop(i, None)
        if ccg is not None:
            ccg.remove()
    credit = m.planning_credit.copy()  # unused planning credit moves with the organisation
    m.planning_credit[:] = 0
    np.add.at(m.planning_credit, plan.to_idx, credit[plan.from_idx] * plan.share)
    keep = np.ones(m.n_orgs, bool)
    keep[plan.from_idx] = False
    m.planning_credit[keep] += credit[keep]
    queue = m.planning_queue.copy()  # and so does the queue expected to be waiting (model/planning.py)
    m.planning_queue[:] = 0
    np.add.at(m.planning_queue, plan.to_idx, queue[plan.from_idx] * plan.share)
    m.planning_queue[keep] += queue[keep]
    m.recompute_spend()
    m.cache.pop("populations", None)  # CCGs' populations and which are open have changed (RolloutModel.populations)
    if m.services is not None:
        m.services.rehome(plan.contract_heir)
