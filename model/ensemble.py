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

The parts live in their own modules, all re-exported here (other code imports from `model.ensemble`):
model/draws.py (seeds and parameter draws), model/pool.py (one run, the local pool, Dask), model/bands.py
(the `Ensemble` and `Comparison` objects and their reductions); this module keys, runs, resumes and stores.

Per run only the small tables are kept: `national`, `by_cohort` (sent as columns and built once for all
runs, model/kept.py), and any extra table (services) of at most `SMALL_TABLE_ROWS` rows. Reductions are
over runs sorted by index, so results are byte-identical whatever the backend or worker count.
"""


from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from model import __version__
from model.bands import (  # noqa: F401 (re-exported: model.ensemble is the public face)
    BAND_COLUMNS,
    QUANTILES,
    THRESHOLDS,
    Comparison,
    Ensemble,
    _month,
    _value_columns,
    bands_long,
    bands_of,
)
from model.draws import (  # noqa: F401 (re-exported)
    CANDIDATES,
    MAX_DRAW_ATTEMPTS,
    MODES,
    UNCERTAIN_CHOICES,
    Z80,
    EnsembleError,
    RunSpec,
    _check_mode,
    _quantile,
    _seq,
    draw_parameters,
    plan_run,
    plan_runs,
    posterior_draws,
    resolve_uncertain,
    run_scenario,
    run_seed,
    uncertain_parameters,
)
from model.kept import KeptColumns, stacked
from model.pool import (  # noqa: F401 (re-exported)
    BACKENDS,
    KEEP_TABLES,
    MAX_POOL_RESTARTS,
    SMALL_TABLE_ROWS,
    _execute,
    _local_pool,
    canonical,
    run_one,
    shutdown_local_pool,
)
from model.posterior import ensemble_note
from model.provenance import code_digest
from model.scenario import Scenario
from model.store import Store, StoreError

_DEFAULT_STORE = object()


def input_hash(scenario: Scenario, runs: int, mode: str, uncertain: str, services: bool = True,
               posterior: str | None = None, design: list[dict] | None = None) -> str:
    key = {"scenario": json.loads(scenario.model_dump_json()), "runs": runs, "mode": mode, "uncertain": uncertain,
           "model_version": __version__, "model_code": code_digest(), "keep": [KEEP_TABLES, SMALL_TABLE_ROWS],
           "layout": 1}
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
                 prior: bool = False, design: list[dict] | None = None, resume: bool = True,
                 write_behind: bool = False) -> Ensemble:
    """Run (or read back) `runs` members of `scenario`. `store=None` keeps nothing on disk.
    `services=False` runs the patient side alone (uptake needs nothing else, at half the cost).
    A scenario that names a posterior draws its calibrated parameters from it, unless `prior`.
    `design`: run i uses design[i]'s "seed" and "parameters" instead of drawing them (mode "design"; used by
    sensitivity analysis, scenario discovery and reach, model/sensitivity.py); `runs` must equal its length.
    `resume=False`: finished runs are not written one by one for a later resume (only the finished entry
    is stored): for ensembles of seconds, such as the dashboard's, where redoing beats writing 50 files.
    `write_behind=True`: the finished entry is written to the store by a background thread after this returns
    (the caller waiting on a lever change does not wait for the parquet files); the entry's lock is held
    until it is written, so another caller asking for it meanwhile waits and reads it back. The returned
    manifest then lacks what writing adds (id, file hashes, git revision); the stored one has them."""
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
                        progress, dask_processes, prior, design, post_digest, resume)
    with contextlib.ExitStack() as held:
        held.enter_context(st.lock(eid))  # one writer per entry: a second session waits here, then reads it back
        if st.has(eid):
            return _cached(st, scenario, runs, mode, eid, progress)
        e = _compute(scenario, runs, mode, which, services, key, eid, st, backend, scheduler, workers,
                     progress, dask_processes, prior, design, post_digest, resume)
        if not write_behind:
            e.manifest = _write(st, eid, e.tables, e.manifest)
            return e
        later = held.pop_all()  # the lock passes to the writer, which lets it go once the entry is on disk
        try:
            _WRITER.submit(_write_then_release, st, e, later)
        except RuntimeError:  # the process is shutting down and takes no more threads: write it now
            _write_then_release(st, e, later)
        return e


# writes the dashboard's finished entries after their callers have their results (`write_behind`); one thread,
# not a daemon, so a process that exits still finishes what it started writing
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phb-store-write")


def _write_then_release(st: Store, e: Ensemble, held: contextlib.ExitStack) -> None:
    with held:
        try:
            _write(st, e.id, e.tables, e.manifest)
        except Exception as err:  # noqa: BLE001 (nobody waits on this thread: say what was not stored)
            logging.getLogger(__name__).warning("ensemble %s was not stored: %s", e.id, err)


def _write(st: Store, eid: str, tables: dict[str, pd.DataFrame], manifest: dict) -> dict:
    """Write a finished entry (tables, then its manifest) and drop its resumable runs: the manifest written."""
    from model.results import git_revision

    written = st.write_entry(eid, tables, {**manifest, "git_revision": git_revision()})
    st.drop_runs(eid)
    return written


def _cached(st: Store, scenario: Scenario, runs: int, mode: str, eid: str, progress) -> Ensemble:
    tables, manifest = st.read_entry(eid)
    if progress is not None:
        progress(runs, runs)
    return Ensemble(scenario, runs, mode, eid, tables, manifest, from_cache=True)


def _compute(scenario: Scenario, runs: int, mode: str, which: str, services: bool, key: str, eid: str,
             st: Store | None, backend: str, scheduler: str | None, workers: int | None, progress,
             dask_processes: bool, prior: bool = False, design: list[dict] | None = None,
             post_digest: str | None = None, resume: bool = True) -> Ensemble:
    """Run what is not stored yet (resuming from `st`'s finished runs); the caller stores the entry."""
    t0 = time.perf_counter()
    specs = plan_runs(scenario, runs, mode, which, prior) if design is None else \
        [RunSpec(i, int(d["seed"]), dict(d["parameters"]), 0) for i, d in enumerate(design)]
    base = json.loads(scenario.model_dump_json())
    results: dict[int, dict] = {}  # run -> table name -> its DataFrame, or KeptColumns (model/kept.py)
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
        results[i] = {**{name: out["kept"] for name in KEEP_TABLES}, **out["tables"]}
        seconds.append(out["seconds"])
        if st is not None and resume:  # a resumable run is stored as tables (built here, on this path only)
            s = specs[i]
            st.write_run(eid, i, {name: out["kept"].table(name) for name in KEEP_TABLES} | out["tables"],
                         {"index": i, "seed": s.seed, "parameters": s.parameters, "seconds": out["seconds"]})
        done += 1
        if progress is not None:
            progress(done, runs)

    payloads = [{"scenario": base, "index": s.index, "seed": s.seed, "parameters": s.parameters,
                 "services": services} for s in todo]
    where = _execute(payloads, backend, scheduler, workers, on_done, dask_processes, run=run_one)
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
        **(ensemble_note(scenario, sorted(uncertain_parameters(scenario, which))) if post_digest else {}),
        "services": services, "model_version": __version__, "model_code": code_digest(), **where, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 3), "runs_computed": len(todo), "runs_resumed": len(resumed),
        **({"runs_damaged": list(st.damaged)} if st is not None and st.damaged else {}),
        "run_seconds_mean": round(float(np.mean(seconds)), 4) if seconds else None,
    }
    return Ensemble(scenario, runs, mode, eid, tables, manifest)


def _consolidate(specs: list[RunSpec], results: dict[int, dict]) -> dict[str, pd.DataFrame]:
    """Per-run tables stacked in run order, plus the run table (seeds and drawn parameters). A kept table
    whose runs all came as columns is built once from them (model/kept.py); one with resumed runs (read
    back as tables) is built run by run and stacked: the same table either way."""
    names: list[str] = []
    for i in sorted(results):
        names += [n for n in results[i] if n not in names]
    tables = {}
    for name in names:
        runs = [i for i in sorted(results) if name in results[i]]
        parts = [results[i][name] for i in runs]
        if all(isinstance(p, KeptColumns) for p in parts):
            tables[name] = stacked(name, runs, parts)
        else:
            tables[name] = _stack(runs, [p.table(name) if isinstance(p, KeptColumns) else p for p in parts])
    drawn = sorted({n for s in specs for n in s.parameters},
                   key=lambda n: (CANDIDATES.index(n) if n in CANDIDATES else len(CANDIDATES), n))
    tables["runs"] = pd.DataFrame({"run": [s.index for s in specs], "seed": [s.seed for s in specs],
                                   "draw_attempts": [s.draw_attempts for s in specs],
                                   **{name: [s.parameters.get(name) for s in specs] for name in drawn}})
    return tables


def _stack(runs: list[int], frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One table's runs stacked in the given order, a `run` column first: the frames concatenated as they
    are and the column put in front once (the same table as giving each frame its run before concatenating,
    tests/test_member_overhead.py, at a third of the cost)."""
    if any("run" in f.columns for f in frames):  # a table with its own run column: the run replaces it
        df = pd.concat([f.assign(run=i) for i, f in zip(runs, frames)], ignore_index=True)
        return df[["run"] + [c for c in df.columns if c != "run"]]
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "run", np.repeat(np.array(runs, dtype=np.int64), [len(f) for f in frames]))
    return df


def compare(scenarios: list[Scenario], runs: int, *, seed: int | None = None, together: bool = False,
            **same) -> Comparison:
    """Run each scenario's ensemble with one seed (the first scenario's unless given): common random numbers.
    `together`: every scenario's runs are handed to the shared pool at once (one thread per scenario waits on
    its own), so the pool never idles between one scenario's last runs and the next one's first; the same
    results. Progress is then reported from those threads."""
    if len(scenarios) < 2:
        raise EnsembleError("compare needs two or more scenarios: the first is the one the others are measured from")
    seed = scenarios[0].seed if seed is None else seed
    progress = same.pop("progress", None)
    if not together:
        out = []
        for k, s in enumerate(scenarios):
            def prog(done, total, k=k):
                if progress is not None:
                    progress(k * runs + done, len(scenarios) * runs)
            out.append(run_ensemble(s.with_(seed=seed), runs, progress=prog, **same))
        return Comparison(out)

    import threading
    from concurrent.futures import ThreadPoolExecutor

    lock, done = threading.Lock(), [0] * len(scenarios)

    def prog_together(n: int, total: int, k: int) -> None:
        with lock:  # reported under the lock, so the counts only rise
            done[k] = n
            if progress is not None:
                progress(sum(done), len(scenarios) * runs)

    with ThreadPoolExecutor(len(scenarios), thread_name_prefix="phb-compare") as arms:
        futures = [arms.submit(run_ensemble, s.with_(seed=seed), runs,
                               progress=lambda n, t, k=k: prog_together(n, t, k), **same)
                   for k, s in enumerate(scenarios)]
        return Comparison([f.result() for f in futures])


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
