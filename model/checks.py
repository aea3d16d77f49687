"""Debug mode: conservation checks the model can run at the end of every month.

A wrong number shown to a board is worse than a crash, so in debug mode (on in the tests: PHB_CHECKS=1,
or `enable()`) the model calls `check_month(model)` after each monthly step and stops at the first month
where people are not conserved, money does not add up, or a stock has gone negative. Each check reads what
it needs with getattr and skips what the model does not have, so the model core can change underneath.
"""

from __future__ import annotations

import os

import numpy as np

_ENABLED: bool | None = None


class ModelCheckError(AssertionError):
    """A conservation check failed: the message names the month, the check and the numbers."""


def enabled() -> bool:
    """Whether debug checks are on (`PHB_CHECKS=1` in the environment, or `enable()`)."""
    if _ENABLED is not None:
        return _ENABLED
    return os.environ.get("PHB_CHECKS", "").strip().lower() in ("1", "true", "yes", "on")


def enable(on: bool = True) -> None:
    global _ENABLED
    _ENABLED = on


def _when(model) -> str:
    t = getattr(model, "month", None)
    months = getattr(model, "months", None)
    try:
        return f"month {t} ({months[t]:%Y-%m})"
    except (TypeError, IndexError, ValueError, KeyError):
        return f"month {t}"


def _fail(model, what: str) -> None:
    raise ModelCheckError(f"debug check failed in {_when(model)}: {what}")


def check_people(model) -> None:
    """Everyone ever created is counted exactly once; counts of people still held match their states."""
    people = getattr(model, "people", None)
    counts = getattr(people, "counts", None)
    if counts is None:
        return
    counts = np.asarray(counts)
    if (counts < 0).any():
        s, g = np.argwhere(counts < 0)[0]
        _fail(model, f"people: a negative count ({counts[s, g]}) in state {s}, group {g}")
    created = getattr(people, "created", None)
    if created is not None and int(counts.sum()) != int(created):
        _fail(model, f"people: {int(counts.sum()):,} counted in all states but {int(created):,} were created")
    recount = getattr(people, "recount", None)
    died = _died_state()
    if callable(recount) and died is not None:
        fresh = np.asarray(recount())
        alive = slice(0, died)
        if not np.array_equal(fresh[alive], counts[alive]):
            diff = np.argwhere(fresh[alive] != counts[alive])[0]
            _fail(model, f"people: state {diff[0]}, group {diff[1]} holds {fresh[alive][tuple(diff)]} people "
                         f"but is counted as {counts[alive][tuple(diff)]}")
    n = int(getattr(people, "n", 0))
    budget = getattr(people, "budget", None)
    if budget is not None and n and (np.asarray(budget[:n]) < 0).any():
        _fail(model, "people: a negative monthly budget")
    with_flag, flags = getattr(people, "with_flag", None), getattr(people, "flags", None)
    if callable(with_flag) and flags is not None:
        from model.people import INDEXED_FLAGS

        for bit in INDEXED_FLAGS:  # the index lists the monthly rules read instead of scanning everyone
            if not np.array_equal(with_flag(bit), np.flatnonzero(np.asarray(flags[:n]) & bit)):
                _fail(model, f"people: the index of people with flag {bit} is out of step with their flags")


def _died_state() -> int | None:
    try:
        from model.people import State

        return int(State.DIED)
    except (ImportError, AttributeError):
        return None


def check_money(model) -> None:
    """This month's ledger adds up by CCG, to the penny, and no flow or contract is negative."""
    spend = getattr(model, "spend", None)
    if spend is not None and (np.asarray(spend) < 0).any():
        _fail(model, "money: negative PHB spend in a group")
    side = getattr(model, "services", None)
    ledger = getattr(side, "ledger", None)
    items = getattr(ledger, "items", None)
    t = getattr(model, "month", None)
    if not items or t is None:
        return
    row = {k: np.asarray(v[t]) for k, v in items.items()}
    parts = ("contracts", "double_running", "phb_payments", "phb_reclaimed", "support")
    if "total" in row and all(k in row for k in parts):
        total = row["contracts"] + row["double_running"] + row["phb_payments"] - row["phb_reclaimed"] + row["support"]
        if not np.array_equal(total, row["total"]):
            o = int(np.flatnonzero(total != row["total"])[0])
            _fail(model, f"money: CCG {o} total {row['total'][o]} p is not contracts + double running + PHB "
                         f"payments − reclaimed + support ({total[o]} p)")
    split = ("phb_nhs", "phb_outside", "phb_reclaimed")
    if "phb_payments" in row and all(k in row for k in split):
        total = sum(row[k] for k in split)
        if not np.array_equal(total, row["phb_payments"]):
            o = int(np.flatnonzero(total != row["phb_payments"])[0])
            _fail(model, f"money: CCG {o} PHB payments {row['phb_payments'][o]} p are not spent in the NHS, "
                         f"outside it or reclaimed ({total[o]} p)")
    for k, v in row.items():
        if (v < 0).any():
            _fail(model, f"money: ledger item '{k}' is negative ({int(v.min())} p)")
    for stock in ("block", "decommissioned", "income"):
        v = getattr(side, stock, None)
        if v is not None and (np.asarray(v) < 0).any():
            _fail(model, f"money: providers' '{stock}' is negative")


def check_stocks(model) -> None:
    """Stocks that cannot go below zero: offer hazards, market supply, service users."""
    for name in ("hazard", "_holders_by_org"):
        v = getattr(model, name, None)
        if v is not None and (np.asarray(v) < 0).any():
            _fail(model, f"stocks: '{name.strip('_')}' is negative")
    side = getattr(model, "services", None)
    supply = getattr(getattr(side, "ledger", None), "market_supply", None)
    if supply is not None and (np.asarray(supply) < 0).any():
        _fail(model, "stocks: non-NHS market supply is negative")
    lists, depth = getattr(side, "waiting_list", None), getattr(side, "list_depth", None)
    if lists is not None and depth is not None:
        from model.queues import list_depths

        if (np.asarray(lists) < 0).any():
            _fail(model, "stocks: a provider's waiting list is negative")
        # the weekly queue works only on the weeks each list uses: those it tracks must be the weeks in use
        if not np.array_equal(list_depths(np.asarray(lists).reshape(len(lists), -1)), depth):
            _fail(model, "stocks: the weeks a waiting list uses are out of step with the list")


def check_month(model) -> None:
    """All checks for the month just stepped; raises ModelCheckError at the first that fails."""
    check_people(model)
    check_money(model)
    check_stocks(model)
