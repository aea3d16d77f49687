"""Scenario files under malformed and adversarial input (issue 13): whatever the file holds, loading it
either gives a valid Scenario or one ScenarioError naming the file, never another exception."""

from __future__ import annotations

import math
import os
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import parameters as reg
from model.scenario import MAX_NAME, SCENARIO_DIR, Scenario, ScenarioError, load_scenario, parse_yaml

SETTINGS = settings(max_examples=int(os.environ.get("PHB_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
BASE = (SCENARIO_DIR / "baseline.yaml").read_text(encoding="utf-8")
NUMERIC = [p.name for p in reg.REGISTER if p.kind is float]
ADVERSARIAL = [
    "until: 2021-02-30\n", "until: !!timestamp 2021-13-45\n", "seed: !!int 0xZZ\n", "seed: !!float nan\n",
    "seed: " + "9" * 5000 + "\n", "seed: true\n", "seed: 1.5\n", "agent_scale: .inf\n",
    "name: " + "x" * 300 + "\n", "name: ../../etc\n", "name: ''\n", "name: null\n", "description: [1, 2]\n",
    "parameters: 7\n", "parameters: [a, b]\n", "parameters:\n  take_up_chc: .nan\n",
    "parameters:\n  take_up_chc: true\n", "parameters:\n  take_up_chc: 1e400\n",
    "parameters:\n  national_target: 1e5\n", "parameters:\n  right_to_ask_date: 2014-02-29\n",
    "uncertain:\n  take_up_chc: {low: .nan, high: 1}\n", "uncertain:\n  take_up_chc: {low: -.inf}\n",
    "uncertain:\n  take_up_chc: {low: true}\n", "uncertain: {1: {}}\n", "uncertain:\n  take_up_chc: 3\n",
    "a: &a [*a]\n", "? [a, b]\n: c\n", "!!python/object:os.system {}\n", "seed: 1\nseed: 2\n",
    "parameters:\n  take_up_chc: 0.1\n  take_up_chc: 0.2\n", "[" * 5000 + "]" * 5000 + "\n",
    "x:\n" + "".join("  " * i + f"a{i}:\n" for i in range(1, 60)), "extends: 5\n", "extends: ''\n",
    "extends: /etc/passwd\n", "extends: ../../etc/hosts.yaml\n", "extends: [baseline]\n", "\x00\x01\x02",
    "until: 2021-03-31T25:00:00\n", "start: 2015-01-01\n", "until: 1999-01-01\n",
]


def check(path, *, may_pass=True):
    """The property: a Scenario, or a ScenarioError whose message names the file."""
    try:
        s = load_scenario(path)
    except ScenarioError as e:
        assert str(path) in str(e), str(e)
        return None
    assert may_pass, f"accepted: {path.read_text()[:200]!r}"
    assert isinstance(s, Scenario) and len(s.name) <= MAX_NAME
    for how in s.uncertain.values():
        assert all(v is None or math.isfinite(v) for v in (how.low, how.high))
    return s


@pytest.mark.parametrize("body", ADVERSARIAL)
def test_adversarial_files_are_refused_with_file_and_field(tmp_path, body):
    path = tmp_path / "bad.yaml"
    path.write_text(("name: bad\n" if not body.startswith(("[", "x:", "\x00", "a:", "?", "!!")) else "") + body)
    assert check(path, may_pass=False) is None


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(tmp_path, data):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    check(path)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.dates())
yaml_values = st.recursive(yaml_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                                st.dictionaries(st.text(max_size=12), kids, max_size=4)),
                           max_leaves=20)
field_names = st.sampled_from(["name", "description", "seed", "start", "until", "agent_scale", "parameters",
                               "uncertain", "extends", "vintage", "sede"])
param_names = st.sampled_from(list(reg.BY_NAME) + ["offer_rat", ""])


@SETTINGS
@given(st.dictionaries(field_names, yaml_values, max_size=6),
       st.dictionaries(param_names, yaml_values, max_size=5))
def test_random_structures(tmp_path, top, pars):
    if pars:
        top = {**top, "parameters": pars}
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(top, allow_unicode=True))
    check(path)


@SETTINGS
@given(st.integers(0, len(BASE)), st.integers(0, 40), st.text(max_size=20))
def test_mutated_shipped_file(tmp_path, at, cut, insert):
    path = tmp_path / "mutant.yaml"
    path.write_text(BASE[:at] + insert + BASE[at + cut:])
    check(path)


@SETTINGS
@given(st.sampled_from(NUMERIC), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                                           st.text(max_size=8)))
def test_numbers_are_finite_and_never_booleans(tmp_path, name, value):
    path = tmp_path / "num.yaml"
    path.write_text(yaml.safe_dump({"name": "num", "parameters": {name: value},
                                    "uncertain": {name: {"low": value}} if reg.BY_NAME[name].uncertain else {}}))
    s = check(path)
    if s is not None:
        v = getattr(s.parameters, name)
        assert not isinstance(value, bool) and math.isfinite(v)


def write(dir_, name, text):
    p = dir_ / name
    p.write_text(textwrap.dedent(text))
    return p


def test_extends_is_confined_and_cycles_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    outside = write(tmp_path, "outside.yaml", "name: outside\n")
    child = write(tmp_path / "sub", "child.yaml", f"extends: ../outside.yaml\nname: child\n")
    with pytest.raises(ScenarioError, match="outside scenarios/"):
        load_scenario(child)
    write(tmp_path / "sub", "abs.yaml", f"extends: {outside}\nname: abs\n")
    with pytest.raises(ScenarioError, match="outside scenarios/"):
        load_scenario(tmp_path / "sub" / "abs.yaml")
    a = tmp_path / "a.yaml"
    write(tmp_path, "a.yaml", f"extends: {tmp_path / 'b.yaml'}\nname: a\n")
    write(tmp_path, "b.yaml", f"extends: {a}\nname: b\n")
    with pytest.raises(ScenarioError, match="cycle") as err:
        load_scenario(a)
    assert str(a) in str(err.value)
    write(tmp_path, "self.yaml", "extends: self\nname: me\n")
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(tmp_path / "self.yaml")
    (tmp_path / "dir.yaml").mkdir()
    write(tmp_path, "d.yaml", "extends: dir.yaml\nname: d\n")
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path / "d.yaml")
    ok = write(tmp_path, "ok.yaml", "extends: target_100k\nname: ok\n")
    assert load_scenario(ok).parameters.national_target == 100_000
    with pytest.raises(ScenarioError, match="give a name"):
        load_scenario("../../etc/passwd")


def test_long_chain_is_capped(tmp_path):
    for i in range(12):
        write(tmp_path, f"c{i}.yaml", f"name: c{i}\n" + (f"extends: c{i + 1}\n" if i < 11 else ""))
    with pytest.raises(ScenarioError, match="longer than"):
        load_scenario(tmp_path / "c0.yaml")


def test_duplicate_keys_and_size_caps():
    with pytest.raises(ScenarioError, match="duplicate key 'seed'"):
        parse_yaml("name: a\nseed: 1\nseed: 2\n", "x.yaml")
    with pytest.raises(ScenarioError, match="too large"):
        parse_yaml("# " + "x" * 300_000, "x.yaml")
    with pytest.raises(ScenarioError, match="nested"):
        parse_yaml("a: " + "[" * 50 + "]" * 50, "x.yaml")
