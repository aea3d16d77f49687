"""An ensemble member's work outside the monthly rules, made cheaper, gives exactly the plain path's results
(issue 12): the tables a worker builds, the way runs are planned and stacked, and the ensemble's reductions.

Each fast path is checked against the plain computation it replaced, cell for cell and dtype for dtype, so a
failure says which one drifted (the frozen baseline and the pinned digests check whole runs).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from model import draws
from model.bands import Ensemble, _key_columns, _value_columns
from model.ensemble import _stack
from model.geography import load_geography
from model.pool import KEEP_TABLES, SMALL_TABLE_ROWS, canonical, run_one
from model.results import kept_columns
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.sim import Sim


def _plain_canonical(df: pd.DataFrame) -> pd.DataFrame:
    """canonical() as it was: always a fresh table, every naive datetime column cast to ms."""
    df = df.reset_index(drop=True)
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]) and getattr(df[c].dt, "tz", None) is None:
            df[c] = df[c].astype("datetime64[ms]")
    return df


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes)


def _payload(scenario, index: int, services: bool) -> dict:
    spec = draws.plan_run(scenario, index, "both", "all")
    return {"scenario": json.loads(scenario.model_dump_json()), "index": index, "seed": spec.seed,
            "parameters": spec.parameters, "services": services}


@pytest.mark.parametrize("services", [False, True])
def test_a_member_gives_the_tables_of_the_plain_run(services):
    """run_one builds only the kept tables (as columns): they equal Sim(...).run()'s, canonicalised, for the
    same run."""
    s = load_scenario("baseline").with_(agent_scale=400, until=dt.date(2016, 9, 30))
    p = _payload(s, 3, services)
    out = run_one(p)
    got = {**{name: out["kept"].table(name) for name in KEEP_TABLES}, **out["tables"]}
    res = Sim(draws.run_scenario(s, 3, "both", "all")).run(services=services)
    want = {name: _plain_canonical(getattr(res, name)) for name in KEEP_TABLES}
    for name in sorted(res.extra):
        if not res.extra.is_large(name) and len(res.extra[name]) <= SMALL_TABLE_ROWS:
            want[f"extra_{name}"] = _plain_canonical(res.extra[name])
    assert list(got) == list(want)
    assert any(n.startswith("extra_") for n in got) == services
    for name in want:
        _same(got[name], want[name])
    assert got["national"]["holders"].iloc[-1] > 0  # a real run, not two empty tables


def test_kept_tables_are_build_results_tables():
    s = load_scenario("baseline").with_(agent_scale=300, until=dt.date(2017, 6, 30), seed=11)
    m = RolloutModel(s, services=False).run()
    columns = kept_columns(m)  # what a worker sends
    kept = {name: columns.table(name) for name in KEEP_TABLES}
    res = Sim(s).run(services=False)
    for name in KEEP_TABLES:
        assert kept[name]["month"].dtype == np.dtype("datetime64[ms]")
        _same(kept[name], _plain_canonical(getattr(res, name)))


def test_canonical_keeps_a_canonical_table_and_converts_the_rest_without_touching_it():
    ms = pd.DataFrame({"month": np.array(["2015-04-01", "2015-05-01"], "datetime64[ms]"), "x": [1, 2]})
    assert canonical(ms) is ms
    ns = pd.DataFrame({"month": pd.to_datetime(["2015-04-01", "2015-05-01"]).as_unit("ns"), "x": [1.0, 2.0]},
                      index=[5, 7])
    out = canonical(ns)
    _same(out, _plain_canonical(ns))
    assert out["month"].dtype == np.dtype("datetime64[ms]") and list(out.index) == [0, 1]
    assert ns["month"].dtype == np.dtype("datetime64[ns]") and list(ns.index) == [5, 7]  # input untouched
    tz = pd.DataFrame({"at": pd.to_datetime(["2015-04-01"]).tz_localize("UTC")})
    _same(canonical(tz), _plain_canonical(tz))


def _plain_stack(runs, frames):
    df = pd.concat([f.assign(run=i) for i, f in zip(runs, frames)], ignore_index=True)
    return df[["run"] + [c for c in df.columns if c != "run"]]


def test_stacking_runs_gives_the_plain_concat():
    rng = np.random.default_rng(5)

    def table(n, extra=False):
        d = {"month": np.arange(n).astype("datetime64[M]").astype("datetime64[ms]"),
             "cohort": pd.array(["chc", "children", "wheelchair"] * (n // 3) + ["chc"] * (n % 3), dtype="str"),
             "holders": rng.integers(0, 9, n), "spend_gbp": rng.random(n), "open": rng.random(n) < 0.5}
        if extra:
            d["late"] = rng.random(n)
        return pd.DataFrame(d)

    same = [table(7) for _ in range(4)]
    _same(_stack([0, 1, 2, 5], same), _plain_stack([0, 1, 2, 5], same))
    mixed = [table(4), table(0), table(5, extra=True)]  # an empty run and a column only one run has
    _same(_stack([2, 0, 1], mixed), _plain_stack([2, 0, 1], mixed))
    own = [t.assign(run=99) for t in same[:2]]  # a table with its own run column: the run replaces it
    _same(_stack([3, 4], own), _plain_stack([3, 4], own))


@pytest.mark.parametrize("mode", ["both", "parameters", "randomness"])
def test_planning_all_runs_at_once_gives_each_runs_plan(mode):
    s = load_scenario("baseline")
    assert draws.plan_runs(s, 6, mode, "all") == [draws.plan_run(s, i, mode, "all") for i in range(6)]


def _plain_prob(e: Ensemble, threshold: float, measure: str = "holders") -> pd.DataFrame:
    r = e.reached(threshold, measure)
    return r.groupby("month", sort=True)["reached"].mean().reset_index(name="probability")


def _national(runs: int, months: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    month = (np.datetime64("2015-04") + np.arange(months)).astype("datetime64[ms]")
    rows = [(r, m) for r in range(runs) for m in range(months)]
    rng.shuffle(rows)  # stacked tables come in run order, but the reduction must not rely on it
    run = np.array([r for r, _ in rows])
    mo = np.array([m for _, m in rows])
    holders = (rng.random(len(rows)) * 1000 * (1 + mo)).round()
    return pd.DataFrame({"run": run, "month": month[mo], "holders": holders.astype(np.int64),
                         "spend_gbp": rng.random(len(rows)) * 1e6})


def test_chance_of_reaching_from_the_matrix_is_the_row_by_row_one():
    s = load_scenario("baseline")
    e = Ensemble(s, 13, "both", "x", {"national": _national(13, 30)})
    for threshold in (0, 5_000, 12_000, 29_000, 1e9):
        _same(e.prob_reaching(threshold), _plain_prob(e, threshold))
    assert e._month_by_run("holders") is not None  # the matrix path was the one taken
    ragged = _national(5, 12, seed=1).iloc[1:]  # a run without one of its months: the row-by-row path
    e2 = Ensemble(s, 5, "both", "y", {"national": ragged})
    assert e2._month_by_run("holders") is None
    _same(e2.prob_reaching(6_000), _plain_prob(e2, 6_000))
    gaps = _national(4, 6, seed=2).astype({"holders": float})
    gaps.loc[3, "holders"] = np.nan
    e3 = Ensemble(s, 4, "both", "z", {"national": gaps})
    _same(e3.prob_reaching(2_000), _plain_prob(e3, 2_000))


def test_key_and_value_columns_read_from_dtypes_are_the_plain_ones():
    df = _national(2, 3).assign(cohort=pd.array(["a", "b", "c", "a", "b", "c"], dtype="str"), flag=True,
                                scenario="s", share=0.5, obj=pd.Series(["x"] * 6, dtype=object))
    skip = {"run", "scenario", "model_version"}
    keys = [c for c in df.columns if c not in skip and (c == "month" or not pd.api.types.is_numeric_dtype(df[c]))]
    values = [c for c in df.columns if c not in set(keys) | {"run"} and pd.api.types.is_numeric_dtype(df[c])
              and not pd.api.types.is_bool_dtype(df[c])]
    assert _key_columns(df) == keys and _value_columns(df) == values
    assert "flag" not in values and "cohort" in keys and "holders" in values


def test_open_organisations_are_worked_out_once_and_handed_out_fresh():
    geo = load_geography()
    day = dt.date(2014, 4, 1)
    o = geo.organisations
    plain = sorted(o.index[(o["open_date"] <= day) & o["close_date"].map(lambda c: c is None or day <= c)])
    first = geo.open_on(day)
    assert first == plain and len(first) == 211
    first.append("XXX")  # a caller's list is its own
    assert geo.open_on(day) == plain
    assert geo.transition_dates() == sorted(set(geo.transitions["date"]))


def _plain_bands(df: pd.DataFrame, measure: str) -> pd.DataFrame:
    """bands_of as it was: sort, then pandas' group quantiles and mean."""
    from model.bands import BAND_COLUMNS, QUANTILES

    keys = _key_columns(df)
    g = df.sort_values(keys + ["run"], kind="stable").groupby(keys, sort=True, observed=True)[measure]
    out = g.quantile(list(QUANTILES.values())).unstack()
    out.columns = list(QUANTILES)
    out = out.reset_index()
    out["mean"] = g.mean().to_numpy()
    return out[keys + list(BAND_COLUMNS) + ["mean"]]


def _per_run_table(runs: int, months: int, cohorts: int, rng) -> pd.DataFrame:
    rows = [(r, m, c) for r in range(runs) for m in range(months) for c in range(cohorts)]
    perm = rng.permutation(len(rows))
    n = len(rows)
    return pd.DataFrame({
        "run": np.array([rows[i][0] for i in perm]) * 3 + 1,  # run numbers need not start at 0 nor be dense
        "month": (np.datetime64("2015-04") + np.array([rows[i][1] for i in perm])).astype("datetime64[ms]"),
        "cohort": pd.array([("chc", "children", "wheelchair")[rows[i][2]] for i in perm], dtype="str"),
        "wild": rng.standard_normal(n) * 10.0 ** rng.integers(-3, 12, n),  # last bits show any other arithmetic
        "count": rng.integers(-10**12, 10**12, n), "share": rng.random(n)})


def test_bands_from_the_matrix_are_the_groupby_bands():
    from model.bands import _grid, bands_long, bands_of

    rng = np.random.default_rng(12)
    for runs, months, cohorts in [(1, 3, 1), (2, 4, 3), (7, 5, 2), (50, 12, 3), (41, 2, 1)]:
        df = _per_run_table(runs, months, cohorts, rng)
        assert _grid(df, _key_columns(df)) is not None  # the matrix path is the one taken
        for m in ("wild", "count", "share"):
            _same(bands_of(df, m), _plain_bands(df, m))
        long = bands_long(df)
        assert list(long["measure"].unique()) == ["wild", "count", "share"]
    ragged = _per_run_table(6, 4, 2, rng).iloc[3:]  # a run missing under a key
    assert _grid(ragged, _key_columns(ragged)) is None
    _same(bands_of(ragged, "wild"), _plain_bands(ragged, "wild"))
    gaps = _per_run_table(5, 3, 1, rng)
    gaps.loc[2, "share"] = np.nan  # a missing value: the groupby path, which skips it
    _same(bands_of(gaps, "share"), _plain_bands(gaps, "share"))
    twice = pd.concat([_per_run_table(3, 2, 1, rng)] * 2, ignore_index=True)  # a run twice under a key
    assert _grid(twice, _key_columns(twice)) is None
    _same(bands_of(twice, "wild"), _plain_bands(twice, "wild"))


def test_sum_over_commissioners_is_numpys_for_either_integer_width():
    from model.results import _sum_over_orgs

    rng = np.random.default_rng(3)
    for dtype in (np.int32, np.int64):
        x = rng.integers(0, 2**20, size=(17, 29, 6)).astype(dtype)
        got = _sum_over_orgs(x)
        assert got.dtype == np.int64 and np.array_equal(got, x.sum(axis=1, dtype=np.int64))


def test_canonical_is_the_plain_one_on_mixed_tables():
    at = pd.to_datetime(["2015-04-01", "2015-05-01", "2015-06-01"])
    df = pd.DataFrame({"month": at.as_unit("ns"), "ms": at.as_unit("ms"), "zoned": at.tz_localize("UTC"),
                       "s": at.as_unit("s"), "x": [1, 2, 3], "name": pd.array(["a", "b", "c"], dtype="str"),
                       "obj": pd.Series([None, "b", "c"], dtype=object)}, index=pd.RangeIndex(3, name="r"))
    for table in (df, df.reset_index(drop=True), df.iloc[::-1], df[["ms", "x"]]):
        _same(canonical(table), _plain_canonical(table))


@pytest.mark.parametrize("services", [False, True])
def test_a_finished_run_is_freed_without_waiting_for_the_garbage_collector(services):
    """`release` turns the model's back-references (agents, policy, service side) into weak ones: once the
    Sim and its results are dropped the model goes at once, so a worker's next run reuses its memory rather
    than faulting in fresh pages. The results stay readable while held."""
    import gc
    import weakref

    scenario = load_scenario("baseline").with_(agent_scale=200, until=dt.date(2016, 3, 31))
    gc.collect()
    gc.disable()
    try:
        sim = Sim(scenario)
        res = sim.run(services=services)
        model = weakref.ref(sim.model)
        assert res.national["holders"].iloc[-1] > 0 and sim.model.open_ccgs[0].model.n_orgs > 0
        del sim, res
        assert model() is None, "the finished model waits for a garbage collection"
    finally:
        gc.enable()
