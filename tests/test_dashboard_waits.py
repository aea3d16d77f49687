"""What the dashboard does around its runs so that a lever change waits for the runs alone (issue 12): the
worker pool starts with the app and is reused, workers never run the page script, the single run beside an
ensemble runs ahead and is the same run, dashboard ensembles write no per-run resume files, and the paired
differences give pivot_table's numbers. Timings are the benchmark's job (benchmarks/bench_dashboard.py)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import model_calls, service_calls
from model import ensemble, pool
from model.scenario import load_scenario
from model.store import Store

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SMALL = load_scenario("baseline").with_(agent_scale=200, until=dt.date(2016, 3, 31))


def _wait_ready(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not pool.local_pool_ready():
        assert time.monotonic() < deadline, "the pool did not warm up"
        for f in list(pool._WARMING):
            if f.done() and f.exception():
                raise f.exception()
        time.sleep(0.1)


def test_pool_started_with_the_app_is_reused_and_workers_skip_the_page_script(monkeypatch, tmp_path):
    """Opening the app starts the pool; the next ensemble runs on those same warm workers. Under Streamlit the
    page script is `__main__`: a worker that ran it would start a pool of its own and die (the warm-up fails)."""
    pool.shutdown_local_pool()
    monkeypatch.setenv("PHB_DASHBOARD_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("PHB_DASHBOARD_POOL", "on")
    main = sys.modules["__main__"]
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["runs"], at.query_params["scale"], at.query_params["until"] = "4", "200", "2016-03-31"
        at.run()  # the Start page: no ensemble, yet the pool is on its way
        assert not at.exception
        assert pool._POOL, "the app did not start the worker pool"
        _wait_ready()
        # with the pool up, the services page hands both arms to it at once and reports progress from the
        # threads that wait on them
        at.switch_page("views/services.py").run()
        assert not at.exception and len(at.get("plotly_chart")) >= 3
        warm = {f.result() for f in pool._WARMING}
        executor = next(iter(pool._POOL.values()))
        assert warm == set(executor._processes)
        assert model_calls._workers(4) is None  # with the pool up, even a handful of runs goes there
        e = model_calls._ensemble(SMALL, 6, "randomness")
        assert next(iter(pool._POOL.values())) is executor and set(executor._processes) == warm
        alone = ensemble.run_ensemble(SMALL, 6, mode="randomness", workers=1, store=None, services=False)
        pd.testing.assert_frame_equal(e.runs_table(), alone.runs_table())
        # both arms of a comparison handed to the pool at once: the same numbers as one arm after the other
        other = SMALL.with_parameters(national_push_strength=0.8).with_(name="pushed")
        seen = []
        together = ensemble.compare([SMALL, other], 3, mode="randomness", together=True, store=None,
                                    services=False, progress=lambda d, t: seen.append((d, t)))
        apart = ensemble.compare([SMALL, other], 3, mode="randomness", workers=1, store=None, services=False)
        for a, b in zip(together.ensembles, apart.ensembles):
            pd.testing.assert_frame_equal(a.runs_table(), b.runs_table())
        pd.testing.assert_frame_equal(together.differences("holders"), apart.differences("holders"))
        assert seen[-1] == (6, 6) and len(executor._processes) == len(warm)
    finally:
        sys.modules["__main__"] = main
        pool.shutdown_local_pool()


def test_workers_are_launched_without_the_main_script(tmp_path):
    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('the main script ran in a worker')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)  # what Streamlit installs while a page runs
    main = sys.modules["__main__"]
    pool.shutdown_local_pool()
    sys.modules["__main__"] = fake
    try:
        pool.start_local_pool(1)
        assert sys.modules["__main__"] is fake  # put back after the launch
        _wait_ready()
    finally:
        sys.modules["__main__"] = main
        pool.shutdown_local_pool()


class _Pool:
    shut = False

    def shutdown(self, wait=True, cancel_futures=False):
        self.shut = True


def test_an_ensemble_naming_no_worker_count_reuses_a_larger_pool(monkeypatch):
    bigger, smaller = _Pool(), _Pool()
    monkeypatch.setattr(pool, "_POOL", {3: bigger})
    assert pool._local_pool(2, at_least=True) is bigger
    monkeypatch.setattr(pool, "_POOL", {1: smaller})
    fresh = pool._local_pool(2, at_least=True)  # too small: retired, a pool of 2 made (no process starts yet)
    try:
        assert fresh is not smaller and smaller.shut and pool._POOL == {2: fresh}
        monkeypatch.setattr(pool, "_POOL", {3: bigger})
        assert pool._local_pool(2) is not bigger  # a worker count asked for is the count used
    finally:
        for p in pool._POOL.values():
            p.shutdown()
        fresh.shutdown()


def _counted_single_runs(monkeypatch) -> list[str]:
    """The scenario YAMLs of every single run started from now on (the run itself still happens)."""
    calls = []
    single = model_calls._AHEAD_KINDS["single"]

    def counted(y):
        calls.append(y)
        return single(y)

    monkeypatch.setitem(model_calls._AHEAD_KINDS, "single", counted)
    return calls


def test_a_run_started_ahead_is_the_run_the_page_gets(monkeypatch):
    calls = _counted_single_runs(monkeypatch)
    y = SMALL.to_yaml()
    model_calls.run_ahead("single", y)
    model_calls.run_ahead("single", y)  # asked twice: started once
    got = model_calls._collect("single", y)
    assert len(calls) == 1 and ("single", y) not in model_calls._AHEAD
    direct = model_calls._single(y)  # the same run, not counted
    pd.testing.assert_frame_equal(got.national, direct.national)
    pd.testing.assert_frame_equal(got.by_region, direct.by_region)
    model_calls._collect("single", y)  # nothing ahead any more: computed here
    assert len(calls) == 2


def test_a_single_run_is_kept_once_and_handed_out_uncopied(monkeypatch):
    """The page's single run sits in the process memo: a second ask runs nothing and returns the same object
    (no pickled copy per hit), an export sees it as done, and a run started ahead is not started again."""
    calls = _counted_single_runs(monkeypatch)
    y = SMALL.with_(seed=SMALL.seed + 101).to_yaml()  # a scenario no other test has memoised
    assert not model_calls.single_run_done(y)
    first = model_calls.single_run(y)
    assert model_calls.single_run_done(y) and model_calls.single_run(y) is first
    model_calls.run_ahead("single", y)
    assert ("single", y) not in model_calls._AHEAD and len(calls) == 1


def test_a_failure_ahead_reaches_the_page(monkeypatch):
    def broken(y):
        raise ValueError("no such scenario")

    monkeypatch.setitem(model_calls._AHEAD_KINDS, "single", broken)
    model_calls.run_ahead("single", "x: 1")
    with pytest.raises(ValueError, match="no such scenario"):
        model_calls._collect("single", "x: 1")


def test_without_resume_no_run_files_but_the_entry_is_stored(monkeypatch, tmp_path):
    st = Store(tmp_path / "a")
    monkeypatch.setattr(Store, "write_run", lambda *a, **k: pytest.fail("a per-run file was written"))
    e = ensemble.run_ensemble(SMALL, 3, mode="randomness", workers=1, store=st, services=False, resume=False)
    assert st.has(e.id)
    monkeypatch.undo()
    again = ensemble.run_ensemble(SMALL, 3, mode="randomness", workers=1, store=Store(tmp_path / "b"),
                                  services=False)
    assert again.id == e.id  # the same entry whether or not runs were written for resuming
    pd.testing.assert_frame_equal(e.runs_table(), again.runs_table())
    back = ensemble.run_ensemble(SMALL, 3, mode="randomness", workers=1, store=st, services=False, resume=False)
    assert back.from_cache


def _paired_by_pivot_table(first, other, measure, level=0.8):
    """The earlier implementation, kept here as the reference."""
    a = first.pivot_table(index="month", columns="run", values=measure)
    b = other.pivot_table(index="month", columns="run", values=measure).reindex_like(a)
    d = (b - a).to_numpy(float)
    lo_q = (1 - level) / 2
    return pd.DataFrame({"month": a.index, "median": np.nanmedian(d, axis=1),
                         "low": np.nanquantile(d, lo_q, axis=1), "high": np.nanquantile(d, 1 - lo_q, axis=1)})


def _arm(rng, months, runs, shift, holes, holed, hole_month, order, w=False) -> pd.DataFrame:
    """One arm's runs table for the paired-difference tests: measures x (shifted by `shift`), n (whole numbers:
    pivot_table's mean makes them floats) and, if `w`, w; with the `holes` asked for in measure `holed` (20 cells,
    or month `hole_month`), or all of x missing; rows in any order."""
    df = pd.DataFrame({"run": np.repeat(np.arange(runs), len(months)), "month": np.tile(months, runs)})
    df["x"] = rng.normal(1000, 50, len(df)).round() + shift
    df["n"] = rng.integers(0, 9, len(df))
    if w:
        df["w"] = rng.normal(3, 1, len(df))
    if holes == "some":
        df.loc[rng.choice(len(df), 20, replace=False), holed] = np.nan
    elif holes == "a month":
        df.loc[df["month"] == months[hole_month], holed] = np.nan
    elif holes == "a measure":
        df["x"] = np.nan
    return df.sample(frac=1, random_state=order)


@pytest.mark.parametrize("holes", ["none", "some", "a month", "a measure"])
def test_paired_differences_match_pivot_table(holes):
    rng = np.random.default_rng(7)
    months = pd.date_range("2015-04-01", periods=24, freq="MS")
    first, other = (_arm(rng, months, 12, shift, holes, holed="x", hole_month=3, order=1) for shift in (0, 30))
    for m in ("x", "n"):
        for level in (0.8, 0.95):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # all-NaN months: "Mean of empty slice", in both
                want = _paired_by_pivot_table(first, other, m, level)
                got = model_calls.paired_over_time(first, other, m, level)
            pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("holes", ["none", "some", "a month", "a measure", "a run"])
def test_all_service_measures_at_once_match_one_at_a_time(holes):
    """The services page's differences for every measure at once (`service_measures_over_time`) are
    `paired_over_time` and each arm's monthly median, measure by measure, whatever is missing."""
    rng = np.random.default_rng(11)
    months = pd.date_range("2015-04-01", periods=30, freq="MS")
    # "a month": a measure with no value in the first month
    first, other = (_arm(rng, months, 12, shift, holes, holed="w", hole_month=0, order=2, w=True) for shift in (0, 30))
    if holes == "a run":
        other = other[other["run"] != 5]  # the first arm has a run the other lacks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN months: "Mean of empty slice", in both
        got = service_calls.service_measures_over_time(first, other)
        assert set(got) == {"x", "n", "w"}
        for m, d in got.items():
            want = model_calls.paired_over_time(first, other, m).rename(
                columns={"median": "median_diff", "low": "lo", "high": "hi"})
            want["median_scenario"] = other.groupby("month")[m].median().reindex(want["month"]).to_numpy()
            want["median_first"] = first.groupby("month")[m].median().reindex(want["month"]).to_numpy()
            pd.testing.assert_frame_equal(d, want, check_exact=True, obj=f"{holes}: {m}")


def test_charts_made_the_quick_way_are_the_charts_made_the_usual_way(monkeypatch):
    """`charts._figure` sets the template without re-checking it; the figures must be the same as when it is
    set through `update_layout` (which checks every value)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from dashboard import charts

    months = pd.date_range("2015-04-01", periods=12, freq="MS")
    bands = pd.DataFrame({"month": months, **{c: np.linspace(1, 2, 12) for c in
                                              ("median", "p2_5", "p10", "p25", "p75", "p90", "p97_5")}})
    diff = pd.DataFrame({"month": months, "median": np.zeros(12), "low": -np.ones(12), "high": np.ones(12)})
    table = pd.DataFrame({"scenario": ["a", "b"], "median": [1.0, 2.0], "p10": [0.5, 1.5], "p90": [1.5, 2.5]})

    def made():
        figs = [charts.fan_chart(bands, "t", "y", targets=[(1.5, "x")]), charts.difference_chart(diff, "d", "u"),
                charts.compare_chart(table, "c", "y")]
        return [json.loads(pio.to_json(f, validate=False)) for f in figs]

    quick = made()
    assert quick[0]["layout"]["template"]["layout"]["plot_bgcolor"] == "white"  # plotly_white, not the default

    def usual(*traces):
        return go.Figure(list(traces) or None).update_layout(template="plotly_white")

    monkeypatch.setattr(charts, "_figure", usual)
    assert made() == quick


def test_a_spawned_process_rerunning_the_page_script_starts_no_pool(tmp_path):
    """After the app has run in a process, `__main__` is the page script; anything that process spawns
    (a Dask worker, say) runs it again while booting, and must not try to start a pool there."""
    import multiprocessing as mp

    fake = types.ModuleType("__main__")
    fake.__file__ = APP
    main = sys.modules["__main__"]
    sys.modules["__main__"] = fake
    try:
        p = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
        p.start()
        p.join(120)
    finally:
        sys.modules["__main__"] = main
    assert p.exitcode == 0


def test_closures_listed_on_the_services_page_are_the_first_paired_runs(monkeypatch):
    """The page lists one run's closures with dates and places: the first PHB run of its paired runs (no
    extra run), the same table that run gives when run alone."""
    from model.draws import run_seed
    from model.sim import Sim

    monkeypatch.setattr(model_calls, "_store_options", lambda: {"store": None})
    monkeypatch.setattr(model_calls, "_workers", lambda runs: 1)
    s = load_scenario("baseline").with_(until=dt.date(2021, 3, 31))
    out = service_calls._service_differences(s.to_yaml(), 2, 200, None)
    alone = Sim(s.with_(agent_scale=200, seed=run_seed(s.seed, 0))).run().extra["services_closures"]
    assert len(alone) > 0
    pd.testing.assert_frame_equal(out["closures"], pool.canonical(alone), check_dtype=False)


def test_after_a_lever_change_the_services_page_reruns_only_the_phb_arm(monkeypatch, tmp_path):
    """A lever that acts through budgets leaves the no-PHB arm as it was: the page reads that arm back from
    the store (one no-PHB entry for both lever values) and runs the PHB arm alone; its differences are the
    ones the arm run afresh gives."""
    st = Store(tmp_path / "store")
    monkeypatch.setattr(model_calls, "_store_options", lambda: {"store": st})
    monkeypatch.setattr(model_calls, "_workers", lambda runs: 1)
    ran = []
    real = ensemble._compute
    monkeypatch.setattr(ensemble, "_compute", lambda scenario, *a, **k: ran.append(scenario.name) or
                        real(scenario, *a, **k))
    s = load_scenario("baseline").with_(until=dt.date(2017, 3, 31))
    service_calls._service_differences(s.to_yaml(), 2, 200, None)
    pushed = s.with_parameters(national_push_strength=0.55).with_(name="baseline_custom")
    out = service_calls._service_differences(pushed.to_yaml(), 2, 200, None)
    assert ran == ["no_phbs", "baseline", "baseline_custom"]  # the twin once, each PHB arm once
    assert list(st.catalogue()["scenario"]).count("no_phbs") == 1
    monkeypatch.setattr(model_calls, "_store_options", lambda: {"store": None})
    fresh = service_calls._service_differences(pushed.to_yaml(), 2, 200, None)
    for m, d in fresh["differences"].items():
        pd.testing.assert_frame_equal(out["differences"][m], d, check_exact=True)


class _Bar:
    """Stands in for st.progress's element: records what each redraw shows."""

    def __init__(self):
        self.drawn: list[tuple[float, str]] = []

    def progress(self, value: float, text: str = "") -> None:
        self.drawn.append((value, text))

    def empty(self) -> None:
        self.drawn.append((None, ""))


@pytest.mark.parametrize("every_s", [60.0, 0.0])
def test_progress_bars_redraw_at_most_every_quarter_second_from_any_thread(monkeypatch, every_s):
    """Each redraw re-renders the page in the browser, on the cores the runs use: 50 reports in quick
    succession, from two threads, draw the start and the end only; with no interval every report draws."""
    import threading

    from dashboard import ui

    bar = _Bar()
    monkeypatch.setattr(ui.st, "progress", lambda value, text="": bar)
    monkeypatch.setattr(ui, "PROGRESS_EVERY_S", every_s)
    _, report = ui.progress_bar("Running", "runs")
    threads = [threading.Thread(target=lambda part=part: [report(d, 50) for d in range(part, 51, 2)])
               for part in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shown = [text for _, text in bar.drawn]
    assert "Running: 50 of 50 runs" in shown
    assert len(shown) == (2 if every_s else 50), shown


def test_a_page_draws_its_one_run_charts_while_its_ensemble_runs(monkeypatch):
    """`fan_data(meanwhile=...)` starts the ensemble first and draws the rest while it runs: here the
    ensemble can only finish once `meanwhile` has run, so doing them in turn would never finish."""
    import threading
    import types as pytypes

    from dashboard import ui

    drawn, ensemble_done = threading.Event(), []

    def fan(*call, _progress=None):
        assert drawn.wait(20), "the ensemble waited for drawing that was never started"
        _progress(1, 1)
        ensemble_done.append(True)
        return {"runs": call[1]}

    monkeypatch.setattr(ui.st, "progress", lambda value, text="": _Bar())
    monkeypatch.setattr(ui.state, "current", lambda: pytypes.SimpleNamespace(
        view={"runs": 3, "scale": 50, "mode": "both"}))
    monkeypatch.setattr(ui.model_calls, "fan", fan)
    out = ui.fan_data(SMALL, meanwhile=lambda: (ensemble_done.append(False), drawn.set()))
    assert out == {"runs": 3} and ensemble_done == [False, True]


def test_a_reused_thread_reports_progress_to_the_page_that_asked(monkeypatch):
    """Pages hand their ensembles to a shared thread pool (`ui.fan_data`): a thread that reported for one
    session and then runs another's ensemble must report to the second one's page, not the first's (a
    report sent through a finished session's context stopped the second session's ensemble)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    import types as pytypes

    sessions = {name: pytypes.SimpleNamespace(name=name, pages_manager=pytypes.SimpleNamespace(main_script_hash=""))
                for name in ("first", "second")}
    seen, reports = [], {}

    def page(name):  # what the page's script thread does: hand its report to the ensemble
        add_script_run_ctx(threading.current_thread(), sessions[name])
        reports[name] = model_calls.from_any_thread(
            lambda done, total: seen.append(get_script_run_ctx(suppress_warning=True).name))

    for name in sessions:
        script = threading.Thread(target=page, args=(name,))
        script.start()
        script.join()
    with ThreadPoolExecutor(max_workers=1) as one_thread:
        for name in sessions:
            one_thread.submit(reports[name], 1, 1).result()
    assert seen == ["first", "second"]
