"""The results store: cache by input hash, resume after SIGKILL, atomic writes, tamper checks, catalogue, CLI."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import model.ensemble as ensemble
from model.cli import main
from model.ensemble import load_ensemble, run_ensemble
from model.results import write_results
from model.scenario import load_scenario
from model.sim import Sim
from model.store import Store, StoreError

SMALL = load_scenario("baseline").with_(agent_scale=50, until=dt.date(2016, 3, 31))
PHB = str(Path(sys.executable).with_name("phb"))


def _no_work(*a, **k):
    raise AssertionError("a cache hit must not run the model")


def test_cache_hit_does_no_work(tmp_path, monkeypatch):
    first = run_ensemble(SMALL, 3, workers=1, store=tmp_path)
    assert not first.from_cache
    monkeypatch.setattr(ensemble, "run_one", _no_work)
    monkeypatch.setattr(ensemble, "_execute", _no_work)
    again = run_ensemble(SMALL, 3, workers=1, store=tmp_path)
    assert again.from_cache and again.id == first.id
    pd.testing.assert_frame_equal(again.runs_table(), first.runs_table())
    # a different run count, seed or mode is a different input: it would compute
    with pytest.raises(AssertionError, match="cache hit"):
        run_ensemble(SMALL, 4, workers=1, store=tmp_path)
    with pytest.raises(AssertionError, match="cache hit"):
        run_ensemble(SMALL.with_(seed=1), 3, workers=1, store=tmp_path)


def test_a_change_to_the_models_code_is_a_new_input(tmp_path, monkeypatch):
    """An ensemble stored by the former rules is not read back after the model changes: the key carries a
    digest of the model's files (model/provenance.py), which moves when any file's content or name does."""
    import shutil

    import model.provenance as provenance

    first = run_ensemble(SMALL, 2, workers=1, store=tmp_path / "store")
    assert first.manifest["model_code"] == provenance.code_digest()
    same, edited = tmp_path / "same" / "model", tmp_path / "edited" / "model"
    for copy in (same, edited):
        shutil.copytree(provenance.MODEL_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert provenance.code_digest(same) == provenance.code_digest()  # where the files sit does not count
    rule = edited / "offers.py"
    rule.write_text(rule.read_text() + "\n# a changed rule\n")
    changed = provenance.code_digest(edited)  # (digests are kept per directory for the process's life)
    assert changed != provenance.code_digest()
    monkeypatch.setattr(ensemble, "code_digest", lambda: changed)
    monkeypatch.setattr(ensemble, "run_one", _no_work)
    monkeypatch.setattr(ensemble, "_execute", _no_work)
    with pytest.raises(AssertionError, match="cache hit"):
        run_ensemble(SMALL, 2, workers=1, store=tmp_path / "store")


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    scen = SMALL.with_(until=dt.date(2017, 3, 31))
    store = tmp_path / "killed"
    cmd = [PHB, "ensemble", "baseline", "--runs", "10", "--scale", "50", "--until", "2017-03-31",
           "--workers", "1", "--out", str(store), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        done = list(store.glob("*/runs/r*"))
        if len(done) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the ensemble ended before it could be killed: {proc.stderr.read()!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    entry = next(store.iterdir())
    assert not (entry / "manifest.json").exists()  # unfinished: not readable as a result
    stored = len(list((entry / "runs").glob("r*")))
    assert 3 <= stored < 10
    (entry / "runs" / ".tmp-r000009-half").mkdir()  # a half-written run is never read
    (entry / "runs" / ".tmp-r000009-half" / "national.parquet").write_bytes(b"PAR1 half")

    resumed = run_ensemble(scen, 10, workers=1, store=store)
    assert resumed.id == entry.name
    assert resumed.manifest["runs_resumed"] == stored
    assert resumed.manifest["runs_computed"] == 10 - stored
    whole = run_ensemble(scen, 10, workers=2, store=tmp_path / "whole")
    assert resumed.manifest["files"] == whole.manifest["files"]
    assert not (entry / "runs").exists()


def test_a_damaged_stored_run_is_computed_again(tmp_path):
    eid = None

    def stop_after_two(done, total):
        if done == 2 and not stopped:
            stopped.append(True)
            raise KeyboardInterrupt

    stopped: list[bool] = []
    with pytest.raises(KeyboardInterrupt):
        run_ensemble(SMALL, 5, workers=1, store=tmp_path, progress=stop_after_two)
    (eid,) = [p.name for p in tmp_path.iterdir()]
    part = tmp_path / eid / "runs" / "r000001" / "national.parquet"
    part.write_bytes(b"not parquet")
    ens = run_ensemble(SMALL, 5, workers=1, store=tmp_path)
    assert ens.manifest["runs_resumed"] == 1 and ens.manifest["runs_computed"] == 4
    fresh = run_ensemble(SMALL, 5, workers=1, store=None)
    pd.testing.assert_frame_equal(ens.runs_table(), fresh.runs_table())


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import model.store as st

    def boom(df):
        raise OSError("disk full")

    monkeypatch.setattr(st, "parquet_bytes", boom)
    with pytest.raises(OSError):
        Store(tmp_path).write_run("e", 0, {"national": pd.DataFrame({"a": [1]})}, {"index": 0})
    assert Store(tmp_path).completed_runs("e") == []
    assert list((tmp_path / "e" / "runs").iterdir()) == []


def test_written_behind_the_entry_is_the_one_written_at_once(tmp_path, monkeypatch):
    """write_behind returns before its entry is on disk; the entry then written is the same files, and a
    caller asking for it meanwhile waits on the entry's lock and reads it back rather than running again."""
    import threading

    import model.store as store_module

    gate, real = threading.Event(), store_module.Store.write_entry

    def held_back(self, *a, **k):  # the background write waits until the test has looked
        assert gate.wait(60)
        return real(self, *a, **k)

    monkeypatch.setattr(store_module.Store, "write_entry", held_back)
    behind = run_ensemble(SMALL, 3, mode="randomness", workers=1, store=tmp_path / "behind", services=False,
                          resume=False, write_behind=True)
    assert not Store(tmp_path / "behind").has(behind.id)  # returned before the write
    asked = []
    reader = threading.Thread(target=lambda: asked.append(run_ensemble(
        SMALL, 3, mode="randomness", workers=1, store=tmp_path / "behind", services=False, resume=False)))
    monkeypatch.setattr(ensemble, "_execute", _no_work)  # the second caller must not run the model
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive()  # waiting on the lock the writer holds
    gate.set()
    reader.join(60)
    assert asked and asked[0].from_cache and asked[0].id == behind.id
    monkeypatch.undo()
    at_once = run_ensemble(SMALL, 3, mode="randomness", workers=1, store=tmp_path / "now", services=False,
                           resume=False)
    assert at_once.id == behind.id
    for name in at_once.manifest["files"]:
        written = (tmp_path / "behind" / behind.id / name).read_bytes()
        assert written == (tmp_path / "now" / at_once.id / name).read_bytes()
    stored = Store(tmp_path / "behind").manifest(behind.id)
    assert stored["files"] == at_once.manifest["files"] and stored["git_revision"] == at_once.manifest["git_revision"]


def test_a_failed_write_behind_is_reported_and_lets_go_of_the_entry(tmp_path, monkeypatch, caplog):
    import model.store as store_module

    def boom(df):
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "parquet_bytes", boom)
    e = run_ensemble(SMALL, 2, mode="randomness", workers=1, store=tmp_path, services=False, resume=False,
                     write_behind=True)
    ensemble._WRITER.submit(lambda: None).result(60)  # the write has been tried
    assert f"ensemble {e.id} was not stored: disk full" in caplog.text
    assert not Store(tmp_path).has(e.id)
    monkeypatch.undo()
    again = run_ensemble(SMALL, 2, mode="randomness", workers=1, store=tmp_path, services=False, resume=False)
    assert not again.from_cache and Store(tmp_path).has(e.id)  # the lock was let go: computed and stored now


def test_write_behind_in_a_process_shutting_down_writes_at_once(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()  # what the writer is once the interpreter has begun to exit: it takes no more work
    monkeypatch.setattr(ensemble, "_WRITER", closed)
    e = run_ensemble(SMALL, 2, mode="randomness", workers=1, store=tmp_path, services=False, resume=False,
                     write_behind=True)
    assert Store(tmp_path).has(e.id)  # written before returning, and the entry's lock let go:
    again = run_ensemble(SMALL, 2, mode="randomness", workers=1, store=tmp_path, services=False, resume=False)
    assert again.from_cache


def test_tampered_file_is_refused_with_one_line(tmp_path, capsys):
    ens = run_ensemble(SMALL, 2, workers=1, store=tmp_path)
    path = tmp_path / ens.id / "national.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt or changed"):
        run_ensemble(SMALL, 2, workers=1, store=tmp_path)
    assert main(["runs", "show", ens.id, "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "national.parquet: corrupt or changed" in err and "Traceback" not in err


def test_catalogue_lists_runs_and_ensembles_with_duckdb(tmp_path):
    ens = run_ensemble(SMALL, 2, workers=1, store=tmp_path)
    write_results(Sim(SMALL).run(), tmp_path / "single-run-1", {"run_id": "single-run-1"})
    cat = Store(tmp_path).catalogue()
    assert set(cat["id"]) == {ens.id, "single-run-1"}
    assert dict(zip(cat["id"], cat["kind"])) == {ens.id: "ensemble", "single-run-1": "run"}
    q = Store(tmp_path).query("SELECT id, runs FROM catalogue WHERE kind = 'ensemble'")
    assert q["id"].tolist() == [ens.id] and int(q["runs"].iloc[0]) == 2
    back = load_ensemble(ens.id[:12], store=tmp_path)  # a unique prefix is enough
    pd.testing.assert_frame_equal(back.bands("holders"), ens.bands("holders"))
    m = back.manifest
    assert m["input_hash"] and m["seed"] == SMALL.seed and m["model_version"] and m["backend"] == "local"
    assert "scenario_yaml" in m and "wall_seconds" in m


def test_cli_ensemble_runs_list_show_export(tmp_path, capsys):
    args = ["--runs", "3", "--scale", "50", "--until", "2016-03-31", "--workers", "1", "--out", str(tmp_path), "--quiet"]
    assert main(["ensemble", "baseline", *args]) == 0
    out = capsys.readouterr().out
    assert "median [80% band]" in out and "≥50k" in out and "≥200k" in out
    assert main(["ensemble", "baseline", *args]) == 0
    assert "read back from the store" in capsys.readouterr().out
    assert main(["compare", "baseline", "target_100k", *args]) == 0
    assert "paired [" in capsys.readouterr().out
    assert main(["runs", "list", "--store", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    eid = [ln.split()[0] for ln in listing.splitlines() if ln.startswith("baseline-x3-both")][0]
    assert main(["runs", "show", eid, "--store", str(tmp_path)]) == 0
    assert "input_hash" in capsys.readouterr().out
    xlsx = tmp_path / "out.xlsx"
    assert main(["runs", "export", eid, "--format", "xlsx", "--out", str(xlsx), "--store", str(tmp_path)]) == 0
    import openpyxl

    assert {"bands", "s_curves", "runs"} <= set(openpyxl.load_workbook(xlsx, read_only=True).sheetnames)
    csv = tmp_path / "nat.csv"
    assert main(["runs", "export", eid, "--table", "national", "--out", str(csv), "--store", str(tmp_path)]) == 0
    assert set(pd.read_csv(csv)["run"]) == {0, 1, 2}


@pytest.mark.parametrize("argv, words", [
    (["runs", "show", "no-such-run"], "unknown run 'no-such-run'"),
    (["runs", "export", "baseline-x2", "--table", "nope"], "--table: 'nope' is not in"),
    (["compare", "baseline", "--runs", "2"], "two or more scenarios"),
    (["ensemble", "nowhere", "--runs", "2"], "unknown scenario 'nowhere'"),
])
def test_cli_bad_input_one_clear_line(tmp_path, capsys, argv, words):
    run_ensemble(SMALL, 2, workers=1, store=tmp_path)
    flag = "--store" if argv[0] == "runs" else "--out"
    assert main([*argv, flag, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["ensemble", "baseline", "--runs", "0"],
                                  ["ensemble", "baseline", "--runs", "2", "--mode", "maybe"],
                                  ["runs", "export", "x", "--format", "pdf"]])
def test_cli_bad_flag_values(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "error: argument" in capsys.readouterr().err
