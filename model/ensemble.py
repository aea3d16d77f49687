"""Monte Carlo ensembles: many runs of one scenario, their bands, and scenario differences under CRN.

Seeds (a `SeedSequence` tree from the scenario's seed, so any run can be re-run alone, by index):

    SeedSequence(seed, spawn_key=(0, i))   run i's parameter draws
    SeedSequence(seed, spawn_key=(1, i))   run i's model seed (the model spawns one stream per process)

These are exactly `SeedSequence(seed).spawn(2)[k].spawn(n)[i]`. Two scenarios compared with the same seed
therefore share every run's random streams and every run's parameter quantiles (common random numbers):
their differences come from the policy, not the dice.

Modes: "randomness" (parameters as in the scenario, seeds vary), "parameters" (one seed, the scenario's;
parameters drawn), "both". Uncertain parameters: the scenario's `uncertain:` map, or "all" register
parameters with a range (those the scenario sets away from the register default are policy choices and
stay fixed unless the map names them). A register range is read as an 80% interval: normal with mean
(low+high)/2 and sd (high-low)/(2 × 1.2816), clipped to what validation accepts. A draw the model cannot
use (e.g. a fast-track stay too long for the CHC inflow) is redrawn from the same run's stream, so the
draw stays a function of (seed, index) alone; the attempts are recorded per run.

Per run only the small tables are kept: `national`, `by_cohort`, and any extra table (services) of at most
`SMALL_TABLE_ROWS` rows. Reductions are over runs sorted by index, so results are byte-identical whatever
the backend or worker count.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from model import __version__
from model import parameters as reg
from model.scenario import Scenario, ScenarioError, Uncertainty
from model.store import Store, StoreError

MODES = ("both", "randomness", "parameters")
BACKENDS = ("local", "dask")
UNCERTAIN_CHOICES = ("scenario", "all")
QUANTILES = {"p2_5": 0.025, "p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90, "p97_5": 0.975}
BAND_COLUMNS = ("median", "p2_5", "p10", "p25", "p75", "p90", "p97_5")
THRESHOLDS = (50_000, 100_000, 200_000)
KEEP_TABLES = ("national", "by_cohort")
SMALL_TABLE_ROWS = 5_000  # extra (service-side) tables up to this size are kept per run
Z80 = NormalDist().inv_cdf(0.9)  # 1.2816: half-width of an 80% interval in sds
MAX_DRAW_ATTEMPTS = 100
CANDIDATES = tuple(p.name for p in reg.REGISTER if p.uncertain)  # draw order: the register's
_DEFAULT_STORE = object()


class EnsembleError(ScenarioError):
    """Bad ensemble input: the message names the option and what is allowed."""


# ---- seeds and parameter draws ----------------------------------------------------------------------------
def _seq(seed: int, branch: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(branch, index))


def run_seed(seed: int, index: int) -> int:
    """The model seed of run `index` (a 63-bit integer, as `Scenario.seed` takes)."""
    hi, lo = _seq(seed, 1, index).generate_state(2, np.uint32)
    return int((int(hi) << 32 | int(lo)) & (2**63 - 1))


def uncertain_parameters(scenario: Scenario, which: str | None = None) -> dict[str, Uncertainty]:
    """The parameters an ensemble draws, and how: the scenario's map, or all register ranges."""
    which = resolve_uncertain(scenario, which)
    if which == "scenario":
        return dict(scenario.uncertain)
    overridden = scenario.overrides()
    out = {name: Uncertainty() for name in CANDIDATES if name not in overridden}
    out.update(scenario.uncertain)
    return {name: out[name] for name in CANDIDATES if name in out}


def resolve_uncertain(scenario: Scenario, which: str | None) -> str:
    if which is None:
        return "scenario" if scenario.uncertain else "all"
    if which not in UNCERTAIN_CHOICES:
        raise EnsembleError(f"uncertain: '{which}' is not allowed; use one of {', '.join(UNCERTAIN_CHOICES)}")
    return which


def _quantile(how: Uncertainty, p: reg.Parameter, current: float, u: float) -> float:
    lo = float(p.low if how.low is None else how.low)
    hi = float(p.high if how.high is None else how.high)
    u = min(max(u, 1e-12), 1 - 1e-12)
    if hi <= lo:
        x = lo
    elif how.distribution == "uniform":
        x = lo + u * (hi - lo)
    elif how.distribution == "triangular":  # mode: the scenario's value, inside the range
        c = min(max(float(current), lo), hi)
        f = (c - lo) / (hi - lo)
        x = lo + np.sqrt(u * (hi - lo) * (c - lo)) if u < f else hi - np.sqrt((1 - u) * (hi - lo) * (hi - c))
    else:  # normal80: the range as an 80% interval
        x = (lo + hi) / 2 + (hi - lo) / (2 * Z80) * NormalDist().inv_cdf(u)
    x = max(x, float(p.min if p.min is not None else 0.0))
    if p.max is not None:
        x = min(x, float(p.max))
    return int(round(x)) if p.kind is int else float(x)


def posterior_draws(scenario: Scenario, seed: int, index: int, prior: bool = False):
    """Where the scenario names a posterior (and the prior is not asked for): a function giving run `index`'s
    calibrated parameter values, a weighted resample from the posterior's own stream (seed, (2, index))."""
    if prior or not getattr(scenario, "posterior", None):
        return None
    from model.posterior import posterior_of

    post = posterior_of(scenario)
    rng = np.random.default_rng(_seq(seed, 2, index))
    return lambda: post.sample(rng)


def draw_parameters(scenario: Scenario, index: int, which: str | None = None,
                    seed: int | None = None, prior: bool = False) -> tuple[dict[str, Any], int]:
    """Run `index`'s drawn parameter values (a function of seed and index alone) and the attempts taken;
    calibrated parameters come from the scenario's posterior unless `prior`."""
    from model.rollout import cohort_flows

    spec = uncertain_parameters(scenario, which)
    seed = scenario.seed if seed is None else seed
    from_posterior = posterior_draws(scenario, seed, index, prior)
    if not spec and from_posterior is None:
        return {}, 0
    rng = np.random.default_rng(_seq(seed, 0, index))
    current = scenario.parameters
    for attempt in range(1, MAX_DRAW_ATTEMPTS + 1):
        u = rng.random(len(CANDIDATES))  # one uniform per candidate, so quantiles line up across scenarios
        values = {name: _quantile(how, reg.BY_NAME[name], getattr(current, name), float(u[CANDIDATES.index(name)]))
                  for name, how in spec.items()}
        if from_posterior is not None:
            values.update(from_posterior())
        try:
            cohort_flows(scenario.with_parameters(**values).parameters)
        except (ScenarioError, ValueError):
            continue
        return values, attempt
    raise EnsembleError(f"run {index}: no usable parameter draw in {MAX_DRAW_ATTEMPTS} attempts; narrow the "
                        f"ranges in uncertain: ({', '.join(spec)})")


@dataclass(frozen=True)
class RunSpec:
    index: int
    seed: int
    parameters: dict[str, Any]
    draw_attempts: int


def plan_run(scenario: Scenario, index: int, mode: str = "both", uncertain: str | None = None,
             prior: bool = False) -> RunSpec:
    _check_mode(mode)
    seed = scenario.seed if mode == "parameters" else run_seed(scenario.seed, index)
    values, attempts = draw_parameters(scenario, index, uncertain, prior=prior) if mode != "randomness" else ({}, 0)
    return RunSpec(index, seed, values, attempts)


def run_scenario(scenario: Scenario, index: int, mode: str = "both", uncertain: str | None = None,
                 prior: bool = False) -> Scenario:
    """The scenario of run `index` exactly as the ensemble ran it: re-run it alone with `Sim(...)`."""
    spec = plan_run(scenario, index, mode, uncertain, prior)
    return scenario.with_parameters(**spec.parameters).with_(seed=spec.seed)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise EnsembleError(f"mode: '{mode}' is not allowed; use one of {', '.join(MODES)}")


# ---- one run (what a worker executes: module-level, importable under "spawn" and by Dask) ----------------
def run_one(payload: dict) -> dict:
    """Run one member of an ensemble; return its small tables (national, by_cohort, small extras)."""
    from model.sim import Sim

    data = dict(payload["scenario"])
    data["seed"] = payload["seed"]
    data["parameters"] = {**data.get("parameters", {}), **payload["parameters"]}
    scenario = Scenario.model_validate(data)
    t0 = time.perf_counter()
    sim = Sim(scenario)
    try:
        res = sim.run(services=payload.get("services", True))
    finally:
        _release(sim)
    tables = {name: getattr(res, name) for name in KEEP_TABLES}
    for name, table in sorted(res.extra.items()):
        if isinstance(table, pd.DataFrame) and len(table) <= SMALL_TABLE_ROWS:
            tables[f"extra_{name}"] = table
    tables = {name: canonical(df) for name, df in tables.items()}
    return {"index": payload["index"], "tables": tables, "seconds": time.perf_counter() - t0, "pid": os.getpid()}


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """A table as it reads back from Parquet (dates in ms), so fresh and resumed runs are byte-identical."""
    df = df.reset_index(drop=True)
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]) and getattr(df[c].dt, "tz", None) is None:
            df[c] = df[c].astype("datetime64[ms]")
    return df


def _release(sim) -> None:
    """Drop the finished model (Sim.run already unhooked it from Mesa's id counter): workers keep no runs."""
    sim.model = None


# ---- where runs execute ----------------------------------------------------------------------------------
_POOL: dict[int, Any] = {}  # one local process pool, kept between ensembles: starting workers costs seconds
_POOL_LOCK = threading.Lock()
MAX_POOL_RESTARTS = 3  # a run whose worker is killed is retried on a fresh pool this many times


def _worker_start(parent: int) -> None:
    """In each worker: exit as soon as the process that started it is gone (even after a SIGKILL, which
    runs no clean-up), so orphaned workers never hold memory."""
    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="phb-parent-watch", daemon=True).start()


def _local_pool(n: int):
    """The process pool of `n` workers, started once and reused (the dashboard asks for many ensembles)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with _POOL_LOCK:
        if n not in _POOL:
            for old in _POOL.values():  # retired, not killed: work other sessions queued there still finishes
                old.shutdown(wait=False)
            _POOL.clear()
            _POOL[n] = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                           initializer=_worker_start, initargs=(os.getpid(),))
            atexit.register(shutdown_local_pool)
        return _POOL[n]


def _discard_pool(pool) -> None:
    """Drop a broken pool (a worker died) so the next request starts a fresh one."""
    with _POOL_LOCK:
        for n, p in list(_POOL.items()):
            if p is pool:
                del _POOL[n]
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_local_pool(cancel: bool = False) -> None:
    with _POOL_LOCK:
        pools = list(_POOL.values())
        _POOL.clear()
    for pool in pools:
        pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _run_local(payloads: list[dict], n: int, on_done: Callable[[dict], None]) -> int:
    """Run payloads on the shared pool. A worker killed mid-run breaks the pool: the runs not yet done are
    retried on a fresh one. A failure here cancels only this caller's runs, never the pool other sessions
    share; only an interrupt (Ctrl-C) shuts it down. Returns the pool restarts needed."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = {p["index"]: p for p in payloads}
    restarts = 0
    while pending:
        pool = _local_pool(n)
        futures = {}
        try:
            for i, p in pending.items():
                futures[pool.submit(run_one, p)] = i
            for fut in as_completed(futures):
                out = fut.result()
                on_done(out)
                pending.pop(futures[fut], None)
        except BrokenProcessPool:
            _discard_pool(pool)
            restarts += 1
            if restarts > MAX_POOL_RESTARTS:
                raise EnsembleError(f"worker processes died {restarts} times (killed, or out of memory?); runs "
                                    f"{', '.join(map(str, sorted(pending)[:10]))} did not finish; try fewer "
                                    "--workers or a larger --scale") from None
        except KeyboardInterrupt:
            shutdown_local_pool(cancel=True)
            raise
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return restarts


def _execute(payloads: list[dict], backend: str, scheduler: str | None, workers: int | None,
             on_done: Callable[[dict], None], dask_processes: bool = True) -> dict:
    """Run every payload, calling `on_done` in this process as each finishes (in any order)."""
    if not payloads:
        return {"backend": backend, "workers": 0}
    if backend == "local":
        n = max(1, min(workers or os.cpu_count() or 1, len(payloads)))
        if n == 1:
            for p in payloads:
                on_done(run_one(p))
            return {"backend": "local", "workers": 1}
        restarts = _run_local(payloads, n, on_done)
        return {"backend": "local", "workers": n, **({"pool_restarts": restarts} if restarts else {})}

    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as e:
                raise EnsembleError(f"--scheduler: cannot reach a Dask scheduler at '{scheduler}' ({e}); give "
                                    "an address such as tcp://host:8786, or use --dask for a local cluster") from None
        else:
            cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=dask_processes,
                                   dashboard_address=None)
            client = Client(cluster)
        n = len(client.scheduler_info()["workers"])
        try:
            futures = client.map(run_one, payloads, pure=False)
            for fut in dask_completed(futures):
                on_done(fut.result())
        finally:
            client.close()
        return {"backend": "dask", "workers": n, "scheduler": scheduler or "LocalCluster"}
    finally:
        if cluster is not None:
            cluster.close()


# ---- summaries ---------------------------------------------------------------------------------------------
def _key_columns(df: pd.DataFrame) -> list[str]:
    skip = {"run", "scenario", "model_version"}
    return [c for c in df.columns if c not in skip and (c == "month" or not pd.api.types.is_numeric_dtype(df[c]))]


def _value_columns(df: pd.DataFrame) -> list[str]:
    keys = set(_key_columns(df)) | {"run"}
    return [c for c in df.columns if c not in keys and pd.api.types.is_numeric_dtype(df[c])
            and not pd.api.types.is_bool_dtype(df[c])]


def bands_of(df: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Median and 50/80/95% bands of one column over runs, by the table's keys (month, cohort, …)."""
    keys = _key_columns(df)
    ordered = df.sort_values(keys + ["run"], kind="stable") if keys else df.sort_values("run", kind="stable")
    if keys:
        g = ordered.groupby(keys, sort=True, observed=True)[measure]
        out = g.quantile(list(QUANTILES.values())).unstack()
        out.columns = list(QUANTILES)
        out = out.reset_index()
        out["mean"] = g.mean().to_numpy()
    else:
        v = ordered[measure].to_numpy(float)
        out = pd.DataFrame({k: [np.nanquantile(v, q)] for k, q in QUANTILES.items()})
        out["mean"] = np.nanmean(v)
    return out[keys + list(BAND_COLUMNS) + ["mean"]]


def bands_long(df: pd.DataFrame) -> pd.DataFrame:
    """Bands for every numeric column of a per-run table, long format with a `measure` column."""
    frames = []
    for m in _value_columns(df):
        b = bands_of(df, m)
        b.insert(0, "measure", m)
        frames.append(b)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _month(at: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(at)
    return ts.to_period("M").to_timestamp()


# ---- the ensemble --------------------------------------------------------------------------------------
@dataclass
class Ensemble:
    scenario: Scenario
    runs: int
    mode: str
    id: str
    tables: dict[str, pd.DataFrame]  # per-run tables, each with a `run` column, sorted by run
    manifest: dict = field(default_factory=dict)
    from_cache: bool = False

    def runs_table(self, name: str = "national") -> pd.DataFrame:
        if name not in self.tables:
            raise EnsembleError(f"table '{name}' is not kept per run; available: {', '.join(sorted(self.tables))}")
        return self.tables[name]

    @property
    def run_info(self) -> pd.DataFrame:
        """One row per run: its seed, drawn parameters and draw attempts."""
        return self.tables["runs"]

    def bands(self, measure: str, table: str = "national") -> pd.DataFrame:
        df = self.runs_table(table)
        if measure not in _value_columns(df):
            raise EnsembleError(f"measure '{measure}' is not a numeric series of {table}; available: "
                                f"{', '.join(_value_columns(df))}")
        return bands_of(df, measure)

    def all_bands(self, table: str = "national") -> pd.DataFrame:
        return bands_long(self.runs_table(table))

    def reached(self, threshold: float, measure: str = "holders") -> pd.DataFrame:
        """Per run and month: whether `measure` has reached `threshold` by that month."""
        df = self.runs_table("national")[["run", "month", measure]].sort_values(["run", "month"], kind="stable")
        hit = df.groupby("run", sort=True)[measure].cummax() >= threshold
        return df.assign(reached=hit.to_numpy())

    def prob_reaching(self, threshold: float, measure: str = "holders") -> pd.DataFrame:
        """Probability that `measure` has reached `threshold` by each month (an S-curve)."""
        r = self.reached(threshold, measure)
        out = r.groupby("month", sort=True)["reached"].mean().reset_index(name="probability")
        return out

    def s_curves(self, thresholds=THRESHOLDS, measure: str = "holders") -> pd.DataFrame:
        frames = [self.prob_reaching(t, measure).assign(threshold=t) for t in thresholds]
        return pd.concat(frames, ignore_index=True)[["threshold", "month", "probability"]]

    def value_at(self, at, measure: str = "holders", table: str = "national") -> np.ndarray:
        """`measure` in the month containing `at`, one value per run (in run order)."""
        df = self.runs_table(table)
        month = _month(at)
        rows = df[df["month"] == month].sort_values("run", kind="stable")
        if rows.empty:
            raise EnsembleError(f"{month:%Y-%m} is outside the runs ({df['month'].min():%Y-%m} to "
                                f"{df['month'].max():%Y-%m})")
        return rows[measure].to_numpy(float)

    def distributions(self) -> dict[str, pd.DataFrame]:
        """Bands of every numeric column of every extra (service-side) table kept per run."""
        return {name: bands_long(df) for name, df in self.tables.items() if name.startswith("extra_")}

    def summary(self, dates=None) -> str:
        from model.results import KEY_DATES

        nat = self.runs_table("national")
        first, last = nat["month"].min(), nat["month"].max()
        lines = [f"Ensemble {self.id}: {self.runs} runs of {self.scenario.name} ({self.mode}; seed "
                 f"{self.scenario.seed}; 1 agent = {self.scenario.agent_scale} people)",
                 "  People holding a PHB: median [80% band]"]
        b = self.bands("holders").set_index("month")
        dates = dates or [d for d, _, _ in KEY_DATES]
        for d in dates:
            m = _month(d)
            if first <= m <= last:
                r = b.loc[m]
                lines.append(f"  {m:%b %Y}: {r['median']:>9,.0f} [{r['p10']:>9,.0f} – {r['p90']:>9,.0f}]")
        r = b.iloc[-1]
        lines.append(f"  {b.index[-1]:%b %Y}: {r['median']:>9,.0f} [{r['p10']:>9,.0f} – {r['p90']:>9,.0f}]  (last month)")
        by = min(pd.Timestamp("2021-03-01"), last)
        label = "March 2021" if by == pd.Timestamp("2021-03-01") else f"{by:%B %Y} (the last month run)"
        probs = []
        for t in THRESHOLDS:
            p = self.prob_reaching(t).set_index("month")["probability"].loc[by]
            probs.append(f"≥{t // 1000}k {p:.0%}")
        lines.append(f"  Probability of reaching, by {label}: {', '.join(probs)}")
        return "\n".join(lines)


def input_hash(scenario: Scenario, runs: int, mode: str, uncertain: str, services: bool = True,
               posterior: str | None = None, design: list[dict] | None = None) -> str:
    key = {"scenario": json.loads(scenario.model_dump_json()), "runs": runs, "mode": mode, "uncertain": uncertain,
           "model_version": __version__, "keep": [KEEP_TABLES, SMALL_TABLE_ROWS], "layout": 1}
    if posterior:
        key["posterior"] = posterior  # the digest of the draws used (absent when drawing from the prior)
    if not services:
        key["services"] = False  # (absent when on, so earlier caches stay valid)
    if design is not None:
        key["design"] = design
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def ensemble_id(scenario: Scenario, runs: int, mode: str, key: str) -> str:
    return f"{scenario.name}-x{runs}-{mode}-{key[:10]}"


def _store_of(store) -> Store | None:
    if store is _DEFAULT_STORE:
        return Store()
    if store is None or isinstance(store, Store):
        return store
    return Store(store)


def run_ensemble(scenario: Scenario, runs: int, *, mode: str = "both", backend: str = "local",
                 scheduler: str | None = None, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None, store=_DEFAULT_STORE,
                 uncertain: str | None = None, dask_processes: bool = True, services: bool = True,
                 prior: bool = False, design: list[dict] | None = None) -> Ensemble:
    """Run (or read back) `runs` members of `scenario`. `store=None` keeps nothing on disk.
    `services=False` runs the patient side alone (uptake needs nothing else, at half the cost).
    A scenario that names a posterior draws its calibrated parameters from it, unless `prior`.
    `design`: run i uses design[i]'s "seed" and "parameters" instead of drawing them (mode "design"; used by
    sensitivity analysis, scenario discovery and reach, model/sensitivity.py); `runs` must equal its length."""
    if design is not None:
        mode, uncertain = "design", "scenario"
        runs = len(design)

    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise EnsembleError(f"runs: {runs!r} is not allowed; give a whole number, 1 or more")
    if design is None:
        _check_mode(mode)
    if scheduler:
        backend = "dask"
    if backend not in BACKENDS:
        raise EnsembleError(f"backend: '{backend}' is not allowed; use one of {', '.join(BACKENDS)}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise EnsembleError(f"workers: {workers!r} is not allowed; give a whole number, 1 or more")
    which = resolve_uncertain(scenario, uncertain)
    post_digest = None
    if design is None and mode != "randomness" and not prior and getattr(scenario, "posterior", None):
        from model.posterior import posterior_of

        post_digest = posterior_of(scenario).digest()
    if design is None and mode != "randomness" and not uncertain_parameters(scenario, which) and post_digest is None:
        raise EnsembleError(f"mode '{mode}' draws parameters, but scenario {scenario.name} names none under "
                            "uncertain:; add some, use uncertain='all', or mode 'randomness'")
    st = _store_of(store)
    key = input_hash(scenario, runs, mode, which, services, post_digest, design)
    eid = ensemble_id(scenario, runs, mode, key)

    if st is not None and st.has(eid):
        return _cached(st, scenario, runs, mode, eid, progress)
    if st is None:
        return _compute(scenario, runs, mode, which, services, key, eid, None, backend, scheduler, workers,
                        progress, dask_processes, prior, design, post_digest)
    with st.lock(eid):  # one writer per entry: a second session waits here, then reads the first's result
        if st.has(eid):
            return _cached(st, scenario, runs, mode, eid, progress)
        return _compute(scenario, runs, mode, which, services, key, eid, st, backend, scheduler, workers,
                        progress, dask_processes, prior, design, post_digest)


def _cached(st: Store, scenario: Scenario, runs: int, mode: str, eid: str, progress) -> Ensemble:
    tables, manifest = st.read_entry(eid)
    if progress is not None:
        progress(runs, runs)
    return Ensemble(scenario, runs, mode, eid, tables, manifest, from_cache=True)


def _compute(scenario: Scenario, runs: int, mode: str, which: str, services: bool, key: str, eid: str,
             st: Store | None, backend: str, scheduler: str | None, workers: int | None, progress,
             dask_processes: bool, prior: bool = False, design: list[dict] | None = None,
             post_digest: str | None = None) -> Ensemble:
    t0 = time.perf_counter()
    specs = [plan_run(scenario, i, mode, which, prior) for i in range(runs)] if design is None else \
        [RunSpec(i, int(d["seed"]), dict(d["parameters"]), 0) for i, d in enumerate(design)]
    base = json.loads(scenario.model_dump_json())
    results: dict[int, dict[str, pd.DataFrame]] = {}
    resumed = []
    if st is not None:
        for i in st.completed_runs(eid):
            if i < runs:
                got = st.read_run(eid, i, required=KEEP_TABLES)
                if got is not None and got[1].get("seed") != specs[i].seed:  # a run from another ensemble
                    st.damaged.append(f"{eid} run {i}: its seed is not this ensemble's")
                    st.drop_run(eid, i)
                    got = None
                if got is not None:
                    results[i] = {name: canonical(df) for name, df in got[0].items()}
                    resumed.append(i)
    todo = [s for s in specs if s.index not in results]
    seconds: list[float] = []
    done = len(results)
    if progress is not None:
        progress(done, runs)

    def on_done(out: dict) -> None:
        nonlocal done
        i = out["index"]
        results[i] = out["tables"]
        seconds.append(out["seconds"])
        if st is not None:
            s = specs[i]
            st.write_run(eid, i, out["tables"], {"index": i, "seed": s.seed, "parameters": s.parameters,
                                                 "seconds": out["seconds"]})
        done += 1
        if progress is not None:
            progress(done, runs)

    payloads = [{"scenario": base, "index": s.index, "seed": s.seed, "parameters": s.parameters,
                 "services": services} for s in todo]
    where = _execute(payloads, backend, scheduler, workers, on_done, dask_processes)
    tables = _consolidate(specs, results)
    wall = time.perf_counter() - t0
    manifest = {
        "kind": "ensemble", "scenario": scenario.name, "seed": scenario.seed, "runs": runs, "mode": mode,
        "uncertain": which, "uncertain_parameters": sorted(uncertain_parameters(scenario, which)) if mode not in ("randomness", "design") else [],
        "agent_scale": scenario.agent_scale, "until": str(scenario.until), "input_hash": key,
        "scenario_digest": scenario.digest(), "scenario_yaml": scenario.to_yaml(),
        "seed_tree": "run i: parameters SeedSequence(seed, spawn_key=(0, i)); model SeedSequence(seed, spawn_key=(1, i))"
                     + ("; mode 'parameters': every run uses the scenario's seed" if mode == "parameters" else ""),
        "posterior": (f"{scenario.posterior} ({post_digest})" if post_digest else None),
        "services": services, "model_version": __version__, **where, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 3), "runs_computed": len(todo), "runs_resumed": len(resumed),
        **({"runs_damaged": list(st.damaged)} if st is not None and st.damaged else {}),
        "run_seconds_mean": round(float(np.mean(seconds)), 4) if seconds else None,
    }
    if st is not None:
        from model.results import git_revision

        manifest["git_revision"] = git_revision()
        manifest = st.write_entry(eid, tables, manifest)
        st.drop_runs(eid)
    return Ensemble(scenario, runs, mode, eid, tables, manifest)


def _consolidate(specs: list[RunSpec], results: dict[int, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Per-run tables stacked in run order, plus the run table (seeds and drawn parameters)."""
    names: list[str] = []
    for i in sorted(results):
        names += [n for n in results[i] if n not in names]
    tables = {}
    for name in names:
        frames = [results[i][name].assign(run=i) for i in sorted(results) if name in results[i]]
        df = pd.concat(frames, ignore_index=True)
        tables[name] = df[["run"] + [c for c in df.columns if c != "run"]]
    drawn = sorted({n for s in specs for n in s.parameters},
                   key=lambda n: (CANDIDATES.index(n) if n in CANDIDATES else len(CANDIDATES), n))
    tables["runs"] = pd.DataFrame({"run": [s.index for s in specs], "seed": [s.seed for s in specs],
                                   "draw_attempts": [s.draw_attempts for s in specs],
                                   **{name: [s.parameters.get(name) for s in specs] for name in drawn}})
    return tables


# ---- comparing scenarios under common random numbers -----------------------------------------------------
@dataclass
class Comparison:
    ensembles: list[Ensemble]

    @property
    def names(self) -> list[str]:
        return [e.scenario.name for e in self.ensembles]

    def differences(self, measure: str = "holders", at=None, table: str = "national",
                    level: float = 0.95) -> pd.DataFrame:
        """Each scenario minus the first at one month: paired (same run seeds) and unpaired intervals."""
        base = self.ensembles[0]
        if at is None:
            at = base.runs_table(table)["month"].max()
        a = base.value_at(at, measure, table)
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        rows = []
        for e in self.ensembles[1:]:
            b = e.value_at(at, measure, table)
            d = b - a
            allpairs = (b[:, None] - a[None, :]).ravel()  # as if the runs had independent seeds
            rows.append({
                "scenario": e.scenario.name, "versus": base.scenario.name, "measure": measure, "month": _month(at),
                "median_first": float(np.median(a)), "median_scenario": float(np.median(b)),
                "median_diff": float(np.median(d)), "mean_diff": float(np.mean(d)),
                "lo": float(np.quantile(d, lo_q)), "hi": float(np.quantile(d, hi_q)),
                "unpaired_lo": float(np.quantile(allpairs, lo_q)), "unpaired_hi": float(np.quantile(allpairs, hi_q)),
                "share_higher": float(np.mean(d > 0)), "level": level, "runs": len(d),
            })
        return pd.DataFrame(rows)

    def summary(self, at=None, measure: str = "holders") -> str:
        df = self.differences(measure, at)
        month = df["month"].iloc[0] if len(df) else None
        lines = [f"Differences from {self.names[0]} in {measure}"
                 + (f", {month:%b %Y}" if month is not None else "")
                 + f" ({self.ensembles[0].runs} runs each, common random numbers; 95% intervals):"]
        for r in df.itertuples():
            lines.append(f"  {r.scenario:24s} {r.median_diff:>+10,.0f}  paired [{r.lo:+,.0f}, {r.hi:+,.0f}]   "
                         f"unpaired [{r.unpaired_lo:+,.0f}, {r.unpaired_hi:+,.0f}]")
        return "\n".join(lines)


def compare(scenarios: list[Scenario], runs: int, *, seed: int | None = None, **same) -> Comparison:
    """Run each scenario's ensemble with one seed (the first scenario's unless given): common random numbers."""
    if len(scenarios) < 2:
        raise EnsembleError("compare needs two or more scenarios: the first is the one the others are measured from")
    seed = scenarios[0].seed if seed is None else seed
    progress = same.pop("progress", None)
    out = []
    for k, s in enumerate(scenarios):
        def prog(done, total, k=k):
            if progress is not None:
                progress(k * runs + done, len(scenarios) * runs)
        out.append(run_ensemble(s.with_(seed=seed), runs, progress=prog, **same))
    return Comparison(out)


def load_ensemble(entry_id: str, store=_DEFAULT_STORE) -> Ensemble:
    """An ensemble back from the store, by id."""
    import yaml

    from model.scenario import scenario_from_dict

    st = _store_of(store)
    eid = st.resolve(entry_id)
    tables, manifest = st.read_entry(eid)
    if manifest.get("kind") != "ensemble":
        raise StoreError(f"'{eid}' is a single run, not an ensemble")
    scenario = scenario_from_dict(yaml.safe_load(manifest["scenario_yaml"]), f"{eid}/manifest.json")
    return Ensemble(scenario, int(manifest["runs"]), manifest["mode"], eid, tables, manifest, from_cache=True)


__all__ = ["Ensemble", "Comparison", "EnsembleError", "run_ensemble", "compare", "load_ensemble", "run_scenario",
           "plan_run", "draw_parameters", "run_seed", "uncertain_parameters", "MODES", "THRESHOLDS"]
