"""Where an ensemble's runs execute: one run as a worker runs it, the shared local process pool, and Dask.

A worker returns the run's kept tables as columns (national, by cohort: model/kept.py) and its small service
tables (under a millisecond to send at 1:50); the ensemble builds and stacks them in run order
(model/ensemble.py). Results are identical whatever the backend or worker count.

The local pool is started once per process and kept: starting a worker (spawn, then importing numpy,
pandas, Mesa and the model) costs seconds of CPU, more than a dozen runs at 1:50. A server that will ask for
ensembles (the dashboard) starts it in the background when it starts (`start_local_pool`), and an ensemble
that does not name its worker count reuses whatever pool is up if it has workers enough.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import multiprocessing.context
import os
import shutil
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.draws import EnsembleError
from model.kept import NAMES as KEEP_TABLES  # national, by_cohort (model/kept.py)
from model.scenario import Scenario

BACKENDS = ("local", "dask")
SMALL_TABLE_ROWS = 5_000  # extra (service-side) tables up to this size are kept per run


# ---- one run (what a worker executes: module-level, importable under "spawn" and by Dask) ----------------
def run_one(payload: dict) -> dict:
    """Run one member of an ensemble; return its kept tables as columns ("kept", model/kept.py: a few kB of
    numpy, built into tables once per ensemble) and its small service tables ("tables": national and
    by_cohort are not among them).

    Only what an ensemble keeps is built (`Sim.run(tables="columns")`), not the run's events, detail tables
    and scenario text: the same tables as a plain `Sim(...).run()` then `canonical`, cell for cell
    (tests/test_member_overhead.py)."""
    from model.sim import Sim

    scenario = member_scenario(payload)
    t0 = time.perf_counter()
    sim = Sim(scenario)
    try:
        res = sim.run(services=payload.get("services", True), tables="columns")
    finally:
        _release(sim)
    tables = {}
    extra = res.extra
    for name in sorted(extra):
        if getattr(extra, "is_large", lambda _: False)(name):
            continue  # a large service table, not built unless read (model/service_tables.py)
        table = extra[name]
        if isinstance(table, pd.DataFrame) and len(table) <= SMALL_TABLE_ROWS:
            tables[f"extra_{name}"] = canonical(table)
    return {"index": payload["index"], "kept": res.kept, "tables": tables,
            "seconds": time.perf_counter() - t0, "pid": os.getpid()}


def member_scenario(payload: dict) -> Scenario:
    """The run's scenario: the ensemble's, with the run's seed and drawn parameters, validated."""
    data = dict(payload["scenario"])
    data["seed"] = payload["seed"]
    data["parameters"] = {**data.get("parameters", {}), **payload["parameters"]}
    return Scenario.model_validate(data)


def _release(sim) -> None:
    """Drop the finished model (Sim.run already unhooked it from Mesa's id counter): workers keep no runs."""
    sim.model = None


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """A table as it reads back from Parquet (dates in ms, a plain 0..n-1 index), so fresh and resumed runs
    are byte-identical. A table already so is returned as it is (not copied)."""
    convert = [c for c, t in df.dtypes.items() if _naive_datetime(df, c, t) and t != _MS]
    index = df.index
    if not convert and isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 \
            and index.name is None and df.columns.is_unique:
        return df
    df = df.reset_index(drop=True)
    for c in convert:
        df[c] = df[c].astype("datetime64[ms]")
    return df


def _naive_datetime(df: pd.DataFrame, column, dtype) -> bool:
    """Whether a column holds dates without a time zone (read from the dtype when it is numpy's)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind == "M"
    return pd.api.types.is_datetime64_any_dtype(dtype) and getattr(df[column].dt, "tz", None) is None


_MS = np.dtype("datetime64[ms]")


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


WARM_SCALE, WARM_UNTIL = 1000, dt.date(2015, 6, 30)  # the warm-up run: coarse and short (~0.3 s CPU)
WARM_MEETING_WAIT = 120.0  # s: the longest a warmed worker waits for the others (a worker that never starts)


def warm(meeting: str | None = None, workers: int = 1) -> int:
    """What a worker does before its first run when the pool is started ahead of need: import the model
    (Mesa, SimPy, pandas, numba), then one short, coarse run with the service side, which reads the geography
    (cached per process) and loads the compiled queue and outcome steps (numba: ~0.3 s from its on-disk cache,
    ~1.6 s to compile without one), and work out every merger date's plan (cached with the geography; the
    short run reaches none, and each worker's first full run paid ~0.1 s for them). The first real run then
    costs only itself. Nothing of the warm-up stays that a run could read differently: results are the same
    on a warm worker as on a fresh one (tests/test_dashboard_waits.py). With a `meeting` place, a worker
    does not finish until `workers` workers have arrived there: one done early would otherwise take the
    next warm-up task and leave another worker cold (seen in CI)."""
    if meeting:
        (Path(meeting) / str(os.getpid())).touch()
    from model.mergers import merger_plan
    from model.scenario import load_scenario
    from model.sim import Sim

    sim = Sim(load_scenario("baseline").with_(agent_scale=WARM_SCALE, until=WARM_UNTIL))
    sim.run(services=True)
    for date in sim.model.geo.transition_dates():
        merger_plan(sim.model, date)
    deadline = time.monotonic() + WARM_MEETING_WAIT
    while meeting and len(os.listdir(meeting)) < workers and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.getpid()


_WARMING: list = []  # the warm-up futures of the current pool (empty once it is replaced)


def start_local_pool(n: int | None = None):
    """Start the shared pool of `n` workers (default: one a core) in the background and return at once;
    each worker imports the model meanwhile. Does nothing if a pool of at least `n` workers is up."""
    n = n or os.cpu_count() or 1
    with _POOL_LOCK:
        if any(size >= n for size in _POOL):
            return next(iter(_POOL.values()))
    pool = _local_pool(n)
    with _POOL_LOCK:
        # one warm-up task a worker: each finds no idle worker when submitted, so each starts a process, and
        # each waits at the meeting place until all have arrived, so no worker takes two
        meeting = tempfile.mkdtemp(prefix="phb-warm-")
        warming = [pool.submit(warm, meeting, n) for _ in range(n)]
        _WARMING[:] = warming

        def _leave(_future) -> None:  # the meeting place goes once every warm-up is over (twice is harmless)
            if all(f.done() for f in warming):
                shutil.rmtree(meeting, ignore_errors=True)

        for f in warming:
            f.add_done_callback(_leave)
    return pool


def local_pool_ready() -> bool:
    """Whether a pool is up and done warming (a pool an ensemble started has its workers already)."""
    with _POOL_LOCK:
        return bool(_POOL) and all(f.done() and not f.exception() for f in _WARMING)


@contextlib.contextmanager
def _empty_main():
    """While a worker is launched, `__main__` is an empty module. A spawned worker otherwise runs the main
    script again: under `streamlit run` that is the page script Streamlit installs as `__main__` (the whole
    dashboard, and its pool start, in every worker); for the CLI, a re-import it does not need. Workers run
    only `run_one` and what it imports."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker launched without the main script (module level: the child unpickles it by name)."""

    @staticmethod
    def _Popen(process_obj):
        from multiprocessing import popen_spawn_posix

        class Popen(popen_spawn_posix.Popen):
            def _launch(self, process_obj):
                with _empty_main():
                    super()._launch(process_obj)

        return Popen(process_obj)


class _WorkerContext(multiprocessing.context.SpawnContext):
    """The "spawn" start method (fork is unsafe beside the server's threads), with `_WorkerProcess`."""

    Process = _WorkerProcess


def _local_pool(n: int, at_least: bool = False):
    """The process pool of `n` workers, started once and reused (the dashboard asks for many ensembles).
    `at_least`: a pool already up with more workers will do (idle workers cost nothing; results do not
    depend on the worker count)."""
    from concurrent.futures import ProcessPoolExecutor

    with _POOL_LOCK:
        if at_least:
            for size, pool in _POOL.items():
                if size >= n:
                    return pool
        if n not in _POOL:
            _WARMING.clear()
            for old in _POOL.values():  # retired, not killed: work other sessions queued there still finishes
                old.shutdown(wait=False)
            _POOL.clear()
            _POOL[n] = ProcessPoolExecutor(max_workers=n, mp_context=_WorkerContext(),
                                           initializer=_worker_start, initargs=(os.getpid(),))
            atexit.register(shutdown_local_pool)
        return _POOL[n]


def _discard_pool(pool) -> None:
    """Drop a broken pool (a worker died) so the next request starts a fresh one."""
    with _POOL_LOCK:
        for n, p in list(_POOL.items()):
            if p is pool:
                del _POOL[n]
                _WARMING.clear()
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_local_pool(cancel: bool = False) -> None:
    with _POOL_LOCK:
        pools = list(_POOL.values())
        _POOL.clear()
        _WARMING.clear()
    for pool in pools:
        pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _run_local(payloads: list[dict], n: int, on_done: Callable[[dict], None], run: Callable = run_one,
               at_least: bool = False) -> int:
    """Run payloads on the shared pool. A worker killed mid-run breaks the pool: the runs not yet done are
    retried on a fresh one. A failure here cancels only this caller's runs, never the pool other sessions
    share; only an interrupt (Ctrl-C) shuts it down. Returns the pool restarts needed."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = {p["index"]: p for p in payloads}
    restarts = 0
    while pending:
        pool = _local_pool(n, at_least)
        futures = {}
        try:
            for i, p in pending.items():
                futures[pool.submit(run, p)] = i
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
             on_done: Callable[[dict], None], dask_processes: bool = True, run: Callable = run_one) -> dict:
    """Run every payload with `run` (a module-level function, so workers can import it), calling `on_done`
    in this process as each finishes (in any order)."""
    if not payloads:
        return {"backend": backend, "workers": 0}
    if backend == "local":
        n = max(1, min(workers or os.cpu_count() or 1, len(payloads)))
        if n == 1:
            for p in payloads:
                on_done(run(p))
            return {"backend": "local", "workers": 1}
        # no worker count asked for: any pool up with workers enough will do (the dashboard's, started early)
        restarts = _run_local(payloads, n, on_done, run, at_least=workers is None)
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
            futures = client.map(run, payloads, pure=False)
            for fut in dask_completed(futures):
                on_done(fut.result())
        finally:
            client.close()
        return {"backend": "dask", "workers": n, "scheduler": scheduler or "LocalCluster"}
    finally:
        if cluster is not None:
            cluster.close()
