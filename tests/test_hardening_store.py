"""The results store and the worker pool under faults (issue 13): damaged manifests and runs are
reported and skipped, never trusted nor allowed to hide the rest; one writer per entry; a killed worker's
run is retried; workers die with their parent."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import model.ensemble as ensemble
from model.ensemble import run_ensemble
from model.scenario import load_scenario
from model.store import Store, StoreWarning

SMALL = load_scenario("baseline").with_(agent_scale=50, until=dt.date(2016, 3, 31))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=20)),
                           lambda k: st.one_of(st.lists(k, max_size=3), st.dictionaries(st.text(max_size=10), k, max_size=3)),
                           max_leaves=12)
manifest_like = st.dictionaries(st.sampled_from(["id", "kind", "scenario", "seed", "runs", "files", "tables",
                                                 "created", "mode", "wall_seconds", "run_id"]), json_values, max_size=8)


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    ens = run_ensemble(SMALL, 2, workers=1, store=root)
    return root, ens


@settings(max_examples=int(os.environ.get("PHB_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(manifest_like.map(lambda m: json.dumps(m).encode()), json_values.map(lambda v: json.dumps(v).encode()),
                 st.binary(max_size=200)))
def test_a_damaged_manifest_never_hides_the_others(good_store, tmp_path, raw):
    root, ens = good_store
    store_dir = tmp_path / "s"
    shutil.rmtree(store_dir, ignore_errors=True)
    shutil.copytree(root, store_dir)
    (store_dir / "zz-bad").mkdir()
    (store_dir / "zz-bad" / "manifest.json").write_bytes(raw)
    st_ = Store(store_dir)
    cat = st_.catalogue()
    assert ens.id in set(cat["id"])
    try:
        st_.read_entry("zz-bad")
    except Exception as e:  # noqa: BLE001 - the property: only StoreError, naming the entry
        assert type(e).__name__ == "StoreError" and "zz-bad" in str(e), repr(e)


def _interrupted(store, runs=4, after=3):
    def stop(done, total):
        if done == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ensemble(SMALL, runs, workers=1, store=store, progress=stop)
    (eid,) = [p.name for p in store.iterdir()]
    return eid, store / eid / "runs"


@pytest.mark.parametrize("damage", ["copied_from_other_run", "lone_record", "missing_table", "bad_record"])
def test_resume_never_trusts_a_damaged_run(tmp_path, damage):
    eid, runs = _interrupted(tmp_path)
    r0, r1 = runs / "r000000", runs / "r000001"
    if damage == "copied_from_other_run":
        shutil.rmtree(r1)
        shutil.copytree(r0, r1)
    elif damage == "lone_record":
        for p in r1.glob("*.parquet"):
            p.unlink()
    elif damage == "missing_table":
        rec = json.loads((r1 / "record.json").read_text())
        rec["files"].pop("national.parquet")
        (r1 / "national.parquet").unlink()
        (r1 / "record.json").write_text(json.dumps(rec))
    else:
        (r1 / "record.json").write_text('{"entry": 3, "files": "x"}')
    with pytest.warns(StoreWarning, match="damaged"):
        ens = run_ensemble(SMALL, 4, workers=1, store=tmp_path)
    assert ens.manifest["runs_resumed"] == 2 and ens.manifest["runs_damaged"]
    fresh = run_ensemble(SMALL, 4, workers=1, store=None)
    pd.testing.assert_frame_equal(ens.runs_table(), fresh.runs_table())


def test_concurrent_sessions_share_one_writer(tmp_path, monkeypatch):
    calls = []
    real = ensemble.run_one

    def counted(payload):
        calls.append(payload["index"])
        return real(payload)

    monkeypatch.setattr(ensemble, "run_one", counted)
    out, errors = [], []

    def session():
        try:
            out.append(run_ensemble(SMALL, 3, workers=1, store=tmp_path))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=session) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 4
    assert sorted(calls) == [0, 1, 2]  # computed once, read back by the other three
    assert sum(not e.from_cache for e in out) == 1


def test_a_killed_worker_is_retried(tmp_path):
    import multiprocessing as mp

    scen = SMALL.with_(until=dt.date(2017, 3, 31))
    result, errors = [], []

    def go():
        try:
            result.append(run_ensemble(scen, 6, workers=2, store=tmp_path / "a"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ensemble.shutdown_local_pool()
    t = threading.Thread(target=go)
    t.start()
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and not killed and t.is_alive():
        kids = [p for p in mp.active_children() if p.pid]
        if len(kids) >= 2:
            time.sleep(1.0)  # let them start a run
            os.kill(kids[0].pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    t.join(300)
    assert killed and not errors, errors
    ens = result[0]
    assert ens.manifest.get("pool_restarts", 0) >= 1
    fresh = run_ensemble(scen, 6, workers=1, store=None)
    pd.testing.assert_frame_equal(ens.runs_table(), fresh.runs_table())
    ensemble.shutdown_local_pool()


def test_workers_die_with_their_parent(tmp_path):
    script = textwrap.dedent(f"""
        import datetime as dt, multiprocessing as mp, sys, threading, time
        from model.ensemble import run_ensemble
        from model.scenario import load_scenario
        s = load_scenario("baseline").with_(agent_scale=50, until=dt.date(2020, 3, 31))
        threading.Thread(target=lambda: run_ensemble(s, 20, workers=2, store=None), daemon=True).start()
        while len(mp.active_children()) < 2:
            time.sleep(0.05)
        print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) >= 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        time.sleep(0.2)
    assert not alive, f"workers {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
