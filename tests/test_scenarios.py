"""Scenario files and the register: bad input is refused with a message naming file, field and what is allowed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import pytest

from model import parameters as reg
from model.scenario import ScenarioError, available_scenarios, load_scenario

SHIPPED = ("baseline", "target_100k", "restrictive_ccgs", "cuts_fund_phbs", "money_follows_patient")


def write(tmp_path, text: str, name: str = "mine.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_shipped_scenarios_load_and_differ_from_baseline():
    assert set(SHIPPED) <= set(available_scenarios())
    for name in SHIPPED:
        s = load_scenario(name)
        assert s.name == name and s.description
        assert bool(s.overrides()) == (name != "baseline")


def test_every_parameter_has_unit_range_and_source():
    for p in reg.REGISTER:
        assert p.label and p.unit and p.source, p.name
        assert p.source.split(":")[0] in {"V", "V2", "D", "assumption", "calibrated"}, p.name
        if p.uncertain:
            assert p.min <= p.low <= p.default <= p.high <= p.max, p.name


@pytest.mark.parametrize("body, field, allowed", [
    ("parameters:\n  offer_rat_chc: 0.2\n", "parameters.offer_rat_chc", "did you mean offer_rate_chc"),
    ("parameters:\n  take_up_chc: lots\n", "parameters.take_up_chc", "from 0.0 to 1.0"),
    ("parameters:\n  take_up_chc: 1.5\n", "parameters.take_up_chc", "from 0.0 to 1.0"),
    ("parameters:\n  national_target: 50000.5\n", "parameters.national_target", "int"),
    ("parameters:\n  merger_policy: biggest\n", "parameters.merger_policy", "most_advanced"),
    ("parameters:\n  right_to_have_date: 2014-01-01\n", "right_to_have_date", "must not be after"),
    ("until: 2035-01-01\n", "until", "2030-03-31"),
    ("sede: 3\n", "sede", "allowed: "),
    ("seed: -1\n", "seed", "greater than or equal to 0"),
    ("uncertain:\n  merger_policy: {}\n", "merger_policy", "numeric register parameter"),
])
def test_invalid_scenarios_are_refused_with_a_clear_message(tmp_path, body, field, allowed):
    path = write(tmp_path, "name: mine\n" + body)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert str(path) in msg and field in msg and allowed in msg


def test_unreadable_or_missing_files(tmp_path):
    with pytest.raises(ScenarioError, match="not readable YAML"):
        load_scenario(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(write(tmp_path, "- a list\n"))
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.yaml")
    with pytest.raises(ScenarioError, match="available: .*baseline"):
        load_scenario("no_such_scenario")


def test_extends_inherits_and_refuses_cycles(tmp_path):
    child = load_scenario(write(tmp_path, "extends: target_100k\nname: child\nparameters:\n  take_up_chc: 0.5\n"))
    assert child.parameters.national_target == 100_000 and child.parameters.take_up_chc == 0.5
    write(tmp_path, "extends: b\nname: a\n", "a.yaml")
    write(tmp_path, f"extends: {tmp_path / 'a.yaml'}\nname: b\n", "b.yaml")
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path / "a.yaml")


def test_with_parameters_validates():
    base = load_scenario("baseline")
    assert base.with_parameters(take_up_chc=0.2).parameters.take_up_chc == 0.2
    with pytest.raises(ValueError):
        base.with_parameters(take_up_chc=2.0)
    assert base.digest() != base.with_(seed=1).digest()
    assert base.with_(until=dt.date(2016, 3, 31)).until == dt.date(2016, 3, 31)


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "model.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("args, needle", [
    (["run", "no_such"], "unknown scenario 'no_such'"),
    (["run", "baseline", "--seed", "-4"], "--seed"),
    (["run", "baseline", "--seed", "abc"], "--seed"),
    (["run", "baseline", "--until", "March 2021"], "--until"),
    (["run", "baseline", "--until", "2040-01-01"], "--until"),
    (["run", "baseline", "--scale", "0"], "--scale"),
])
def test_cli_bad_input_gets_one_clear_message_and_writes_nothing(tmp_path, args, needle):
    out = cli(*args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 2
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_cli_bad_scenario_file_names_the_field(tmp_path):
    path = write(tmp_path, "name: bad\nparameters:\n  offer_rate_chc: 7\n")
    out = cli("run", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 2 and "parameters.offer_rate_chc" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_cli_run_writes_series_and_manifest(tmp_path):
    out = cli("run", "baseline", "--until", "2015-12-31", "--scale", "10", "--quiet", "--out", str(tmp_path),
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "people holding a PHB" in out.stdout and "Oct 2015" in out.stdout
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    import json

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["seed"] == load_scenario("baseline").seed and manifest["model_version"]
    for name in ("national", "by_cohort", "by_type", "by_ccg", "by_region"):
        assert (run_dir / f"{name}.parquet").exists() and (run_dir / f"{name}.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_the_parameter_page_in_docs_matches_the_register():
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "parameters.md"
    assert page.read_text(encoding="utf-8") == reg.markdown_table(), \
        "docs/parameters.md is stale: run python -m model.parameters > docs/parameters.md"


def test_scenario_yaml_is_the_pure_python_emitters_text():
    """`to_yaml` (libyaml's emitter where there is one) writes what PyYAML's own emitter writes, long and
    non-ASCII text included: the text is a cache key and the store's input hash, so a faster emitter must not
    change it; and it reads back as the same scenario."""
    import json

    import yaml

    from model.scenario import scenario_from_dict

    long = "Budgets — held as direct payments, £ a month; " * 6
    for s in [load_scenario(n) for n in available_scenarios()] + [load_scenario("baseline").with_(description=long)]:
        text = s.to_yaml()
        assert text == yaml.safe_dump(json.loads(s.model_dump_json()), sort_keys=False, allow_unicode=True)
        assert scenario_from_dict(yaml.safe_load(text)) == s
