"""The kept tables built once per ensemble from the runs' columns (model/kept.py) are the tables of the plain
path, cell for cell, column order and dtypes included: each run's own tables, as `phb run` builds them and
Parquet reads them back, with its run number, concatenated in run order (issue 12)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model import draws
from model.ensemble import _stack, run_ensemble
from model.kept import N_COHORTS, KeptColumns, stacked
from model.pool import KEEP_TABLES
from model.scenario import load_scenario
from model.sim import Sim

SMALL = load_scenario("baseline").with_(agent_scale=400, until=dt.date(2016, 9, 30))
NATIONAL = ["run", "month", "holders", "notional", "third_party", "direct_payment", "eligible_population",
            "not_yet_eligible", "offered_deciding", "waiting_for_support_plan", "declined", "died", "recovered",
            "lost_eligibility", "new_holders", "offers", "declines", "received_ytd", "issued_ytd", "redesignated",
            "wheelchair_reviews", "holders_wheelchair", "holders_recurring", "spend_gbp", "mean_wait_months",
            "reported_holders"]
BY_COHORT = ["run", "month", "cohort", "holders", "eligible_population", "new_holders", "offers", "declines",
             "waiting_for_support_plan", "received_ytd", "issued_ytd", "redesignated", "spend_gbp"]
FLOATS = {"new_holders", "offers", "declines", "received_ytd", "issued_ytd", "redesignated", "wheelchair_reviews",
          "spend_gbp", "mean_wait_months", "reported_holders"}


def _plain(runs: int, services: bool) -> dict[str, pd.DataFrame]:
    """The reference: every run alone through `Sim.run()` (build_results), months cast to ms as Parquet
    reads them back, a run column added and the runs concatenated (pandas' plain concat)."""
    frames = {name: [] for name in KEEP_TABLES}
    for i in range(runs):
        res = Sim(draws.run_scenario(SMALL, i, "both", "all")).run(services=services)
        for name in KEEP_TABLES:
            df = getattr(res, name).assign(run=i)
            frames[name].append(df.astype({"month": "datetime64[ms]"}))
    out = {}
    for name, dfs in frames.items():
        df = pd.concat(dfs, ignore_index=True)
        out[name] = df[["run"] + [c for c in df.columns if c != "run"]]
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes)


@pytest.mark.parametrize("services", [False, True])
def test_an_ensembles_kept_tables_are_the_runs_tables_stacked(services):
    ens = run_ensemble(SMALL, 3, workers=1, store=None, services=services, uncertain="all")
    want = _plain(3, services)
    for name in KEEP_TABLES:
        _same(ens.tables[name], want[name])
    assert list(ens.tables["national"].columns) == NATIONAL and list(ens.tables["by_cohort"].columns) == BY_COHORT
    for name in KEEP_TABLES:
        for col, dtype in ens.tables[name].dtypes.items():
            expected = {"run": "int64", "month": "datetime64[ms]", "cohort": "str"}.get(
                col, "float64" if col in FLOATS else "int64")
            assert str(dtype) == expected, (name, col, dtype)
    # the comparison is strict: a column out of place, or the runs in another order, fails it
    nat = want["national"]
    swapped = nat[NATIONAL[:3] + [NATIONAL[4], NATIONAL[3]] + NATIONAL[5:]]
    with pytest.raises(AssertionError):
        _same(ens.tables["national"], swapped)
    reordered = pd.concat([nat[nat["run"] == r] for r in (1, 0, 2)], ignore_index=True)
    with pytest.raises(AssertionError):
        _same(ens.tables["national"], reordered)


def _columns(T: int, seed: int, start: str = "2015-04") -> KeptColumns:
    rng = np.random.default_rng(seed)
    months = (np.datetime64(start) + np.arange(T)).astype("datetime64[ms]")
    return KeptColumns(months, {"holders": rng.integers(0, 99, T), "spend_gbp": rng.random(T)},
                       {"holders": rng.integers(0, 99, N_COHORTS * T), "spend_gbp": rng.random(N_COHORTS * T)})


def test_stacking_columns_is_stacking_each_runs_table():
    """Runs out of order and of different lengths: the table built once equals each run's table stacked by
    `_stack` (the path of an ensemble with resumed runs) and pandas' plain concat. (Not a run of no months,
    which no scenario has: pandas reads an empty run's cohort names as objects, not text.)"""
    parts = [_columns(5, 1), _columns(1, 2), _columns(7, 3, "2014-04"), _columns(5, 4)]
    runs = [4, 0, 9, 2]
    for name in KEEP_TABLES:
        frames = [p.table(name) for p in parts]
        _same(stacked(name, runs, parts), _stack(runs, frames))
        plain = pd.concat([f.assign(run=r) for r, f in zip(runs, frames)], ignore_index=True)
        _same(stacked(name, runs, parts), plain[["run"] + [c for c in plain.columns if c != "run"]])


def test_an_ensemble_with_resumed_runs_gives_the_same_tables(tmp_path):
    """Runs read back from the store come as tables, the rest as columns: stacked run by run, the same."""
    stopped: list[bool] = []

    def stop_after_two(done, total):
        if done == 2 and not stopped:
            stopped.append(True)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ensemble(SMALL, 4, workers=1, store=tmp_path, progress=stop_after_two, services=False)
    resumed = run_ensemble(SMALL, 4, workers=1, store=tmp_path, services=False)
    assert resumed.manifest["runs_resumed"] == 2
    fresh = run_ensemble(SMALL, 4, workers=1, store=None, services=False)
    for name in KEEP_TABLES:
        _same(resumed.tables[name], fresh.tables[name])
