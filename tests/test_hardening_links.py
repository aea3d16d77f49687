"""Share links and uploads under adversarial input (issue 13), through the real state parser: never an
exception, values within what is allowed, work capped, and messages shown as text, never Markdown."""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import state, text
from model import parameters as reg
from model.scenario import ScenarioError

SETTINGS = settings(max_examples=int(os.environ.get("PHB_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
KEYS = list(state.VIEW_DEFAULTS) + list(state.SCENARIO_KEYS) + list(reg.BY_NAME) + ["page", "x", ""]
NASTY = ["", "0", "-1", "²", "١٢", "1_000", " 7", "9" * 5000, "1e400", "nan", "inf", "-inf", "true",
         "2021-02-30", "[x](http://evil.example)", "<img src=x onerror=alert(1)>", "**bold**", "$x^2$", ":smile:",
         "http://evil.example", "`code`", "a\nb", "\x00", "baseline", "2019-03", "500", "1", "2014-04-01"]
values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,5})?"))


@SETTINGS
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=80)), values, max_size=12))
def test_any_link_parses_to_a_valid_choice(params):
    choice, errors = state.parse_params(params)
    state.build_scenario(choice)  # what the page will build: valid
    assert state.link_cost(choice.view) <= state.MAX_LINK_COST
    for k, v in choice.view.items():
        assert state.VIEW_RULES[k][1](str(v)) is not None or v == state.VIEW_DEFAULTS[k]
    assert all(isinstance(e, str) and e.startswith("link:") and len(e) < 1200 for e in errors)
    for e in errors:
        shown = text.plain(e)
        for line in shown.split("  \n"):
            assert line == "" or re.fullmatch(r"(`+) .* \1", line, re.S), line
    back, again = state.parse_params(state.to_params(choice))
    assert not again and back.overrides == choice.overrides and back.seed == choice.seed


def test_superscript_huge_and_expensive_links():
    for seed in ("²", "9" * 5000, "١٢", "1_0"):
        choice, errors = state.parse_params({"seed": seed})
        assert choice.seed is None and "seed" in errors[0]
    choice, errors = state.parse_params({"runs": "500", "scale": "1"})
    assert state.link_cost(choice.view) <= state.MAX_LINK_COST and "full national runs" in errors[0]
    choice, errors = state.parse_params({"runs": "100", "scale": "20"})
    assert not errors and choice.view["runs"] == 100


def test_plain_never_renders_markdown():
    shown = text.plain("link: 'view' is '[x](http://evil.example)' ``` <b>hi</b>\nsecond")
    first, second = shown.split("  \n")
    assert first.startswith("```` ") and first.endswith(" ````") and second == "` second `"


uploads = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                    st.sampled_from([b"extends: ../../etc/passwd.yaml\nname: x\n", b"seed: 1\nseed: 2\n",
                                     b"name: x\nparameters: {take_up_chc: .nan}\n", b"[" * 3000,
                                     b"name: x\nuntil: 2021-02-30\n", b"extends: target_100k\nname: ok\n"]))


@SETTINGS
@given(uploads)
def test_uploads_give_a_choice_or_one_message(data):
    try:
        choice = state.choice_from_yaml(data, "upload.yaml")
    except ScenarioError as e:
        assert "upload.yaml" in str(e)
    else:
        state.build_scenario(choice)


def test_bad_stress_keys_give_one_clear_message_each_and_keep_the_defaults():
    bad = {"stress_method": "prim", "stress_output": "holders_2021_03; drop", "reach_target": "1e5",
           "stress_when": "holders_2021_03 < 5 and [x](http://evil.example) > 1", "reach_by": "2021-3-31",
           "reach_probability": "0.99", "reach_levers": "national_push_strength,national_push_strength"}
    choice, errors = state.parse_params(bad)
    assert len(errors) == len(bad) and all(e.startswith("link:") for e in errors)
    for key, e in zip(bad, sorted(errors, key=lambda e: list(bad).index(e.split("'")[1]))):
        assert f"'{key}'" in e and "allowed:" in e and choice.view[key] == state.VIEW_DEFAULTS[key]
    good = {"stress_method": "sobol", "stress_when": "holders_2021_03 < 100000 or closures > 10",
            "reach_levers": "funding_follows_target", "reach_probability": ".85"}
    choice, errors = state.parse_params(good)
    assert not errors and choice.view["reach_probability"] == "0.85"
    assert state.parse_params(state.to_params(choice)) == (choice, [])
    choice, errors = state.parse_params({"stress_when": "holders_2021_03 < 1" + " " * 200})  # over the length cap
    assert "too long" in errors[0] and choice.view["stress_when"] == ""
