"""Debug mode (model/checks.py): a run passes every monthly check, and each check catches its fault."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model import checks
from model.rollout import RolloutModel
from model.scenario import load_scenario

SHORT = load_scenario("baseline").with_(agent_scale=50, until=dt.date(2016, 3, 31))


@pytest.fixture(scope="module")
def model():
    assert checks.enabled()  # on in the tests (tests/conftest.py)
    return RolloutModel(SHORT).run()  # every month checked on the way


def test_a_run_passes_every_check(model):
    checks.check_month(model)


def test_a_lost_person_is_caught(model, monkeypatch):
    counts = model.people.counts.copy()
    counts[0, 0] -= 1
    monkeypatch.setattr(model.people, "counts", counts)
    with pytest.raises(checks.ModelCheckError, match="people"):
        checks.check_month(model)


def test_money_that_does_not_add_up_is_caught(model, monkeypatch):
    items = {k: v.copy() for k, v in model.services.ledger.items.items()}
    items["total"][model.month, 0] += 1
    monkeypatch.setattr(model.services.ledger, "items", items)
    with pytest.raises(checks.ModelCheckError, match="money"):
        checks.check_month(model)


def test_a_negative_stock_is_caught(model, monkeypatch):
    monkeypatch.setattr(model, "hazard", -np.ones_like(model.hazard))
    with pytest.raises(checks.ModelCheckError, match="stocks"):
        checks.check_month(model)


def test_waiting_list_weeks_out_of_step_are_caught(model, monkeypatch):
    """The compiled weekly queue works only on the weeks each list uses (model/queues.py): a tracked depth that
    does not match the list (e.g. a list moved without `move_list`) is caught."""
    side = model.services
    wrong = side.list_depth.copy()
    wrong[np.argmax(wrong)] -= 1  # the longest list, as if its oldest week were empty
    monkeypatch.setattr(side, "list_depth", wrong)
    with pytest.raises(checks.ModelCheckError, match="waiting list uses"):
        checks.check_month(model)
