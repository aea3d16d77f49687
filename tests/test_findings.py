"""`phb findings` (model/findings.py): the evaluation-findings table is measured, every row printed, and
"Reproduced?" follows the figures (a finding whose direction fails reads "no"); bad flags exit 2 naming the flag.
One command run at 1:50 for financial year 2017/18 (nine short runs) serves every test."""

from __future__ import annotations

import contextlib
import copy
import io
import re

import pytest

import model.findings as findings
from model.cli import main

FINDINGS = ("ASCOT +0.057", "Restrictive sites worse", "Larger budgets, bigger gains", "Lower indirect costs",
            "CHC and mental health the cost-effective groups", "No overall cost difference")


@pytest.fixture(scope="module")
def command():
    """The command's output and the figures it measured."""
    seen = {}
    measure = findings.measure

    def keep(scenario):
        seen["scenario"], seen["f"] = scenario, measure(scenario)
        return seen["f"]

    out = io.StringIO()  # capsys is function-scoped; the command runs once for the module
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(findings, "measure", keep)
        code = main(["findings", "--scale", "50", "--year", "2017/18", "--seed", "7"])
    return code, out.getvalue(), seen


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_rows(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| ---")]
    return [cells(ln) for ln in lines[1:]]  # without the header


def verdict(cell: str) -> str:
    """The first word of a Reproduced? cell: yes or no (what follows says why)."""
    return re.match(r"(yes|no)\b", cell)[1]


def reproduced(f: dict) -> list[str]:
    return [verdict(cells(ln)[2]) for ln in findings.table_lines(f)[2:]]


def test_the_command_prints_every_row_as_markdown(command):
    code, text, seen = command
    assert code == 0
    s = seen["scenario"]
    assert (s.name, s.agent_scale, s.seed, s.until.isoformat()) == ("baseline", 50, 7, "2018-03-31")
    assert "| Evaluation finding | Model figure | Reproduced? | Test |" in text
    rows = table_rows(text)
    assert [r[0][:len(k)] for r, k in zip(rows, FINDINGS)] == list(FINDINGS) and len(rows) == len(FINDINGS)
    for r in rows:
        assert len(r) == 4 and verdict(r[2]) in ("yes", "no") and "`test_" in r[3]
        assert "nan" not in r[1] and "n/a" not in r[1]
    assert "1:50, seed 7, financial year 2017/18" in text and "Mar 2018" in text


def test_the_figures_hang_together(command):
    f = command[2]["f"]
    net = f["net"]
    parts = sum(net[k] for k in ("net_budgets", "net_support", "net_double_running", "net_inpatient",
                                 "net_other_services"))
    assert parts == pytest.approx(net["spend"], abs=0.01)  # the split adds up to the net cost (£m)
    assert f["budgets"][1.0] == (f["gain"], f["holders"])  # ×1 is the baseline run itself
    before = f["net_cohort"] - f["reclaimed_cohort"]
    assert before.equals(f["before_reclaimed"])


@pytest.mark.parametrize("row, break_it", [
    (0, lambda f: f.update(gain=f["gain"] + 0.05)),  # far from the evaluation's calibrated size
    (1, lambda f: f.update(restrict=dict(zip(findings.RESTRICTIVENESS, reversed(f["restrict"].values()))))),
    (2, lambda f: f.update(budgets=dict(zip(findings.BUDGET_FACTORS, reversed(f["budgets"].values()))))),
    (3, lambda f: f["net"].__setitem__("bed_days", abs(f["net"]["bed_days"]))),
    (4, lambda f: f["net_cohort"].__setitem__("mental_health", 100.0)),
    (4, lambda f: f["beds_cohort"].__setitem__("long_term", 10 * f["beds_cohort"].max())),
    (5, lambda f: f["net"].__setitem__("spend", 0.05 * f["no_phbs"]["spend"])),
    (5, lambda f: f["net"].__setitem__("net_budgets", -1.0)),
])
def test_reproduced_reads_no_when_a_findings_direction_fails(command, row, break_it):
    f = command[2]["f"]
    before = reproduced(f)
    broken = copy.deepcopy(f)
    break_it(broken)
    after = reproduced(broken)
    assert after[row] == "no"
    assert after[:row] + after[row + 1:] == before[:row] + before[row + 1:]  # only that row changes
    assert reproduced(f) == before  # the measured figures were not touched


def test_a_restriction_acting_outside_the_rule_is_said(command):
    f = copy.deepcopy(command[2]["f"])
    lax, tight = (f["restrict_no_loss"][r] for r in findings.RESTRICTIVENESS)
    assert "through the matching rule alone" in findings.rows(f)[1][2]
    f["restrict_no_loss"][findings.RESTRICTIVENESS[1]] = (tight[0], tight[1] - 100)
    assert "**not** through the matching rule alone" in findings.rows(f)[1][2]


@pytest.mark.parametrize("argv, flag", [
    (["--year", "2020/22"], "--year"), (["--year", "twenty"], "--year"), (["--year", "2031/32"], "--year"),
    (["--year", "2013/14"], "--year"), (["--scale", "0"], "--scale"), (["--scale", "x"], "--scale"),
    (["--seed", "-1"], "--seed"),
])
def test_bad_flags_exit_2_naming_the_flag(capsys, monkeypatch, argv, flag):
    monkeypatch.setattr(findings, "measure", lambda s: pytest.fail("measured despite a bad flag"))
    with pytest.raises(SystemExit) as e:
        main(["findings", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and flag in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("phb findings: error: argument " + flag)


def test_financial_years_are_read_in_their_usual_forms():
    assert findings.year_flag("2020/21") == findings.year_flag("2020-21") == findings.year_flag("2020")
    assert findings.year_flag("2029/30") == 2029 and findings.year_flag("2014/15") == 2014


def test_every_test_the_table_names_exists(command):
    from pathlib import Path

    source = "".join(p.read_text() for p in (Path(__file__).parent).glob("test_*.py"))
    named = {n for r in table_rows(command[1]) for n in re.findall(r"`(test_\w+)`", r[3])}
    assert named and all(f"def {n}(" in source for n in named), sorted(n for n in named if f"def {n}(" not in source)
