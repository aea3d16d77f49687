"""The command line under adversarial flags, ids and output places (issue 13): one message and exit 2,
never a traceback, and nothing computed before the output location is known to be writable."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import model.sim
from model.cli import main

SETTINGS = settings(max_examples=int(os.environ.get("PHB_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _no_run(*a, **k):
    raise AssertionError("the model ran before the output location was checked")


@pytest.fixture
def no_model(monkeypatch):
    monkeypatch.setattr(model.sim.Sim, "run", _no_run)


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse: usage and exit 2
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err


@pytest.mark.parametrize("out", ["/dev/null", "FILE", "READONLY/sub"])
def test_out_is_checked_before_anything_runs(tmp_path, capsys, no_model, out):
    (tmp_path / "FILE").write_text("x")
    ro = tmp_path / "READONLY"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    target = out if out.startswith("/") else str(tmp_path / out)
    if out.startswith("READONLY") and os.geteuid() == 0:
        target = "/proc/phb-cannot-write"  # root may write anywhere; /proc refuses even root
    for cmd in (["run", "baseline"], ["ensemble", "baseline", "--runs", "2"]):
        code, err = run_cli(capsys, *cmd, "--out", target, "--quiet")
        assert code == 2 and "--out" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("rid", ["../../etc", "/etc/passwd", "x" * 5000, "a/b", ".hidden", "..", "",
                                 "\x00", "ok\nnewline", "é"])
def test_run_ids_are_confined_to_the_store(tmp_path, capsys, rid):
    for action in ("show", "export"):
        code, err = run_cli(capsys, "runs", action, rid, "--store", str(tmp_path))
        assert code == 2 and ("not allowed" in err or "name a run" in err or "unknown run" in err), err
    assert not list(tmp_path.parent.glob("*.csv"))


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(["run", "ensemble", "compare", "runs", "show", "export", "list",
                                           "--runs", "--seed", "--until", "--scale", "--out", "--store",
                                           "--mode", "--format", "--table", "baseline", "0", "-1", "²",
                                           "9" * 400, "2021-02-30", "/dev/null", "../..", "nan"]),
                          st.text(max_size=12)), min_size=1, max_size=6))
def test_random_command_lines_never_trace(tmp_path, capsys, no_model, argv):
    if argv[0] in ("run", "ensemble", "compare"):  # anything that got through validation would run
        argv = argv + ["--out", "/dev/null"]
    if argv[0] == "runs":
        argv = argv + ["--store", str(tmp_path)]
    if argv[0] == "dashboard":
        return
    code, err = run_cli(capsys, *argv)
    assert code in (0, 2), (argv, err)
