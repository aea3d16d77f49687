"""What the user has chosen (preset, lever overrides, view options) and how it travels in the URL.

The pure functions here (`parse_params`, `to_params`, `build_scenario`) know nothing about Streamlit, so
they are tested directly; `init_state` and `sync_url` are the thin Streamlit glue. Every value that comes
from a link is validated by the model's own `scenario_from_dict`, so a tampered link gets the same
message the CLI would give, naming the parameter and what is allowed.

Links are emailed around and may be hand-edited or hostile (issue 13): keys and values are length-capped,
numbers must be plain ASCII digits, and a link cannot ask for more work than MAX_LINK_COST full-scale
national runs (runs × people per run); such a link is scaled down and the viewer told. Messages quote link
text, so they are shown through `text.plain` (never as Markdown or HTML).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from model import parameters as reg
from model.backtest import LINK_PATTERN
from model.scenario import Scenario, ScenarioError, available_scenarios, load_scenario, parse_yaml, scenario_from_dict

MAX_PARAMS = 100        # query parameters read from one link
MAX_KEY = 64            # characters in a key
MAX_VALUE = 100         # characters in a value
MAX_LINK_COST = 5.0     # full-scale national runs a link may ask for: runs / people-per-agent (default 50/20)
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: int() would also take '٣', '1_000' or ' 7 '
_ID = re.compile(r"[A-Za-z0-9_.\-]{0,100}")  # a stored ensemble id (the store checks it again)

# View options that live in the URL beside the parameters, with their defaults and what is allowed.
VIEW_DEFAULTS: dict[str, Any] = {
    "view": "stock",        # uptake: stock or year to date
    "runs": 50,             # ensemble size for fan charts
    "scale": 50,            # people per agent in ensemble runs (coarse: a lever change redraws quickly)
    "mode": "both",         # what varies between ensemble runs (model.ensemble MODES)
    "ccg_scale": 1,         # people per agent in the single run behind CCG variation
    "month": "",            # CCG variation month (YYYY-MM); empty = last month
    "compare": "baseline,current",  # scenarios on the Compare page: the edited one against the baseline
    "present": 0,           # presentation mode
    "forecast": "",         # Backtest: a stored ensemble id (empty: this scenario's fan)
    "actuals": "",          # Backtest: uploaded figures, compact (model.backtest.to_link)
    # Stress test: what it shows; empty = not chosen (the page opens on the newest stored result of each kind)
    "stress_method": "",    # sensitivity method: oat, morris or sobol
    "stress_output": "",    # the output whose ranking is drawn (model.stress_outputs names)
    "stress_when": "",      # the discovery condition, e.g. "holders_2021_03 < 100000"
    "reach_target": "",     # what must be true: people holding a PHB ...
    "reach_by": "",         # ... by this date (YYYY-MM-DD) ...
    "reach_probability": "",  # ... with this chance ...
    "reach_levers": "",     # ... searching these levers (names joined by commas)
}
VIEW_RULES = {
    "view": ("one of stock, ytd", lambda v: v if v in ("stock", "ytd") else None),
    "runs": ("a whole number from 2 to 500", lambda v: _int_in(v, 2, 500)),
    "scale": ("a whole number from 1 to 1000", lambda v: _int_in(v, 1, 1000)),
    "mode": ("one of both, randomness, parameters", lambda v: v if v in ("both", "randomness", "parameters") else None),
    "ccg_scale": ("a whole number from 1 to 1000", lambda v: _int_in(v, 1, 1000)),
    "month": ("a month as YYYY-MM", lambda v: v if v == "" or _month(v) else None),
    "compare": ("2 to 4 names of presets separated by commas", lambda v: _compare(v)),
    "present": ("0 or 1", lambda v: _int_in(v, 0, 1)),
    "forecast": ("a stored ensemble id (letters, digits, '_', '-', '.')", lambda v: v if _ID.fullmatch(v) else None),
    "actuals": ("up to 8 figures like h1903-71000 joined by _", lambda v: v if v == "" or LINK_PATTERN.fullmatch(v)
                else None),
    "stress_method": ("one of oat, morris, sobol", lambda v: v if v in ("", "oat", "morris", "sobol") else None),
    "stress_output": ("an output such as holders_2021_03, reach_100k_2021_03 or closures",
                      lambda v: _or_empty(v, _stress_output)),
    "stress_when": ("a condition OUTPUT OP NUMBER, e.g. holders_2021_03 < 100000 (clauses joined by and/or)",
                    lambda v: _or_empty(v, _stress_when)),
    "reach_target": ("a whole number of people from 10000 to 1000000", lambda v: _or_empty(v, lambda t: _int_in(
        t, 10_000, 1_000_000))),
    "reach_by": ("a date YYYY-MM-DD from 2015-04-01 to 2030-03-31", lambda v: _or_empty(v, _reach_by)),
    "reach_probability": ("a chance from 0.5 to 0.95, e.g. 0.8", lambda v: _or_empty(v, _probability)),
    "reach_levers": ("1 to 4 names of numeric policy levers separated by commas", lambda v: _or_empty(v, _levers)),
}
SCENARIO_KEYS = ("preset", "seed", "until")


def _int_in(v: str, lo: int, hi: int) -> int | None:
    if not isinstance(v, str) or not _DIGITS.fullmatch(v):
        return None
    i = int(v)
    return i if lo <= i <= hi else None


def _or_empty(v: str, check) -> Any:
    return "" if v == "" else check(v)


def _stress_output(v: str) -> str | None:
    from model.stress_outputs import OutputError, parse

    try:
        return v if len(v) <= 40 and parse(v) else None
    except OutputError:
        return None


def _stress_when(v: str) -> str | None:
    from model.discovery import parse_when
    from model.ensemble import EnsembleError

    try:
        return v if v.isascii() and v.isprintable() and parse_when(v)[0] else None
    except (EnsembleError, ScenarioError, ValueError):
        return None


def _reach_by(v: str) -> str | None:
    try:
        day = dt.date.fromisoformat(v) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v) else None
    except ValueError:
        return None
    return v if day and dt.date(2015, 4, 1) <= day <= dt.date(2030, 3, 31) else None


def _probability(v: str) -> str | None:
    if not re.fullmatch(r"0?\.[0-9]{1,3}", v):
        return None
    return str(float(v)) if 0.5 <= float(v) <= 0.95 else None


def reach_lever_names() -> list[str]:
    """Levers a what-must-be-true search can move: the register's numeric policy levers with a range."""
    return [p.name for p in reg.REGISTER if p.lever and isinstance(p.default, (int, float))
            and not isinstance(p.default, bool) and p.low is not None]


def _levers(v: str) -> str | None:
    names = v.split(",")
    ok = set(reach_lever_names())
    return v if 1 <= len(names) <= 4 and len(set(names)) == len(names) and all(n in ok for n in names) else None


def show(text: Any, limit: int = 60) -> str:
    """Link text as quoted in a message: shortened, control characters made visible."""
    t = str(text)
    t = "".join(c if c.isprintable() else repr(c)[1:-1] for c in t)
    return t if len(t) <= limit else t[:limit] + f"… ({len(str(text))} characters)"


def link_cost(view: dict[str, Any]) -> float:
    """The work a view asks for, in full-scale national runs: ensemble runs / people per agent."""
    return int(view["runs"]) / max(int(view["scale"]), 1)


def cap_cost(view: dict[str, Any]) -> str | None:
    """Scale a view's ensemble down to MAX_LINK_COST (in place); the message to show if it was."""
    cost = link_cost(view)
    if cost <= MAX_LINK_COST:
        return None
    asked = (view["runs"], view["scale"])
    view["runs"] = max(2, min(int(view["runs"]), int(MAX_LINK_COST * int(view["scale"]))))
    if link_cost(view) > MAX_LINK_COST:
        view["runs"], view["scale"] = VIEW_DEFAULTS["runs"], VIEW_DEFAULTS["scale"]
    return (f"link: 'runs' × people per run ({asked[0]} runs at one agent per {asked[1]} people) is {cost:g} "
            f"full national runs; allowed: at most {MAX_LINK_COST:g} (e.g. runs=100&scale=20); showing "
            f"{view['runs']} runs at one agent per {view['scale']} people")


def _month(v: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(f"{v}-01")
    except ValueError:
        return None


def _compare(v: str) -> str | None:
    names = [n for n in v.split(",") if n]
    ok = set(available_scenarios()) | {"current"}
    return ",".join(names) if 2 <= len(names) <= 4 and all(n in ok for n in names) else None


@dataclass
class Choice:
    """Everything needed to rebuild what the user sees."""

    preset: str = "baseline"
    overrides: dict[str, Any] = field(default_factory=dict)  # parameter name -> value, vs the preset
    seed: int | None = None
    until: dt.date | None = None
    view: dict[str, Any] = field(default_factory=lambda: dict(VIEW_DEFAULTS))
    name: str | None = None          # an uploaded scenario's own name and description (not in links)
    description: str | None = None


def preset_scenario(name: str) -> Scenario:
    return load_scenario(name)


def build_scenario(choice: Choice) -> Scenario:
    """The scenario: the preset with the overrides, validated by the model (raises ScenarioError)."""
    base = preset_scenario(choice.preset)
    data = base.model_dump()
    data["parameters"].update(choice.overrides)
    if choice.overrides:
        data["name"] = f"{base.name}_custom"
    if choice.name:
        data["name"] = choice.name
    if choice.description:
        data["description"] = choice.description
    if choice.seed is not None:
        data["seed"] = choice.seed
    if choice.until is not None:
        data["until"] = choice.until
    return scenario_from_dict(data, source="this scenario")


def coerce(name: str, text: str) -> Any:
    """A parameter value from URL text, typed by the register (raises ScenarioError)."""
    p = reg.BY_NAME[name]
    allowed = (f"one of {', '.join(p.choices)}" if p.choices else
               f"a {p.kind.__name__} from {p.min} to {p.max} ({p.unit})")
    try:
        if not isinstance(text, str) or len(text) > MAX_VALUE or not text.isascii():
            raise ValueError("too long or not plain text")
        if p.choices:
            value: Any = text
        elif p.kind is dt.date:
            value = dt.date.fromisoformat(text)
        elif p.kind is bool:
            value = {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        elif p.kind is int:
            if not re.fullmatch(r"-?[0-9]{1,19}", text):
                raise ValueError("not a whole number")
            value = int(text)
        else:
            if not re.fullmatch(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?", text):
                raise ValueError("not a plain decimal number")
            value = float(text)
    except (ValueError, KeyError, OverflowError):
        raise ScenarioError(f"link: '{name}' ({p.label}) is '{show(text)}'; allowed: {allowed}") from None
    return value


def to_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def parse_params(params: dict[str, str]) -> tuple[Choice, list[str]]:
    """Read a link's query parameters; bad ones are dropped and reported, never raised."""
    errors: list[str] = []
    choice = Choice()
    raw = dict(params)
    params = {}
    for key, value in list(raw.items())[:MAX_PARAMS]:
        if not isinstance(key, str) or not isinstance(value, str) or len(key) > MAX_KEY or len(value) > MAX_VALUE:
            errors.append(f"link: '{show(key, 40)}' is too long or not text; allowed: names up to {MAX_KEY} and "
                          f"values up to {MAX_VALUE} characters")
        else:
            params[key] = value
    if len(raw) > MAX_PARAMS:
        errors.append(f"link: {len(raw)} settings; allowed: at most {MAX_PARAMS} (the rest were ignored)")
    preset = params.pop("preset", "baseline")
    if preset in available_scenarios():
        choice.preset = preset
    else:
        errors.append(f"link: 'preset' is '{show(preset)}'; allowed: one of {', '.join(available_scenarios())}")
    if "seed" in params:
        text = params.pop("seed")
        if _DIGITS.fullmatch(text) and int(text) <= 2**63 - 1:
            choice.seed = int(text)
        else:
            errors.append(f"link: 'seed' is '{show(text)}'; allowed: a whole number from 0 to 2**63-1, in digits 0-9")
    if "until" in params:
        text = params.pop("until")
        try:
            choice.until = dt.date.fromisoformat(text)
            build_scenario(Choice(choice.preset, {}, None, choice.until))
        except ValueError as e:
            choice.until = None
            errors.append(f"link: 'until' is '{show(text)}'; allowed: a date YYYY-MM-DD after 2014-04-01 "
                          f"and no later than 2030-03-31" + ("" if isinstance(e, ScenarioError) else ""))
    for key, (allowed, check) in VIEW_RULES.items():
        if key in params:
            text = params.pop(key)
            value = check(text)
            if value is None:
                errors.append(f"link: '{key}' is '{show(text)}'; allowed: {allowed}")
            else:
                choice.view[key] = value
    capped = cap_cost(choice.view)
    if capped:
        errors.append(capped)
    params.pop("page", None)  # the page is in the URL path; tolerated for old links
    for key, text in params.items():
        if key not in reg.BY_NAME:
            close = [n for n in reg.BY_NAME if n[:4] == key[:4]]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            errors.append(f"link: '{show(key, 40)}' is not a setting or a parameter of the model{hint}")
            continue
        try:
            value = coerce(key, text)
            build_scenario(Choice(choice.preset, {**choice.overrides, key: value}, choice.seed, choice.until))
        except ScenarioError as e:
            errors.append(str(e) if str(e).startswith("link:") else _one_line(e, key))
            continue
        choice.overrides[key] = value
    choice.overrides = {k: v for k, v in choice.overrides.items()
                        if v != preset_scenario(choice.preset).parameters.model_dump()[k]}
    return choice, errors


def _one_line(e: ScenarioError, key: str) -> str:
    lines = [ln.strip(" -") for ln in str(e).splitlines()[1:]] or [str(e)]
    return f"link: '{key}' ({reg.BY_NAME[key].label}): " + "; ".join(lines)


def to_params(choice: Choice) -> dict[str, str]:
    """Query parameters that reproduce `choice`; defaults are left out to keep links short."""
    out: dict[str, str] = {}
    if choice.preset != "baseline":
        out["preset"] = choice.preset
    if choice.seed is not None:
        out["seed"] = str(choice.seed)
    if choice.until is not None:
        out["until"] = choice.until.isoformat()
    for k, v in choice.view.items():
        if v != VIEW_DEFAULTS[k]:
            out[k] = str(v)
    for k in sorted(choice.overrides):
        out[k] = to_text(choice.overrides[k])
    return out


def choice_from_yaml(text: str | bytes, source: str = "uploaded file") -> Choice:
    """A scenario file (as the CLI reads it) turned into preset + overrides (raises ScenarioError)."""
    data = parse_yaml(text, source)  # size, depth, duplicate keys, bad tags: one ScenarioError
    parent = data.pop("extends", None)
    if parent is not None and parent not in available_scenarios():
        raise ScenarioError(f"{source}: extends: '{show(parent)}' is not a preset; allowed: one of "
                            f"{', '.join(available_scenarios())} (an uploaded file cannot extend other files)")
    name = str(data.get("name", ""))
    if parent is not None and parent not in available_scenarios():
        raise ScenarioError(f"{source}: 'extends' is '{parent}', which is not a scenario; allowed: one of "
                            f"{', '.join(available_scenarios())}")
    preset = parent if parent is not None else (name if name in available_scenarios() else "baseline")
    base = preset_scenario(preset)
    merged = base.model_dump()
    for k, v in data.items():
        if k == "parameters" and isinstance(v, dict):
            merged["parameters"].update(v)
        else:
            merged[k] = v
    scenario = scenario_from_dict(merged, source)
    base_pars = base.parameters.model_dump()
    overrides = {k: v for k, v in scenario.parameters.model_dump().items() if v != base_pars[k]}
    return Choice(preset=preset, overrides=overrides,
                  seed=scenario.seed if scenario.seed != base.seed else None,
                  until=scenario.until if scenario.until != base.until else None,
                  name=scenario.name if scenario.name != base.name else None,
                  description=scenario.description if scenario.description != base.description else None)


def differences_from_baseline(scenario: Scenario) -> list[dict[str, Any]]:
    """Rows (label, group, baseline value, this scenario, unit) for parameters that differ from baseline."""
    base = preset_scenario("baseline").parameters.model_dump()
    rows = []
    for name, value in scenario.parameters.model_dump().items():
        if value != base[name]:
            p = reg.BY_NAME[name]
            rows.append({"Lever": p.label, "Group": p.group, "Baseline": to_text(base[name]),
                         "This scenario": to_text(value), "Unit": p.unit})
    return rows


def read_actuals(raw: bytes, name: str) -> pd.DataFrame:
    """Parse an uploaded CSV of actual figures; ValueError with a plain message if it is not usable."""
    try:
        df = pd.read_csv(io.BytesIO(raw))
    except Exception as e:  # pandas raises many types for unreadable files
        raise ValueError(f"{name}: not a readable CSV file ({type(e).__name__})") from None
    cols = {c.strip().lower(): c for c in df.columns}
    missing = [c for c in ("month", "holders") if c not in cols]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}; the file needs columns month and "
                         f"holders (found: {', '.join(map(str, df.columns)) or 'none'})")
    out = pd.DataFrame({"month": pd.to_datetime(df[cols["month"]], errors="coerce"),
                        "holders": pd.to_numeric(df[cols["holders"]], errors="coerce")})
    bad = out[out.isna().any(axis=1)]
    if len(bad):
        row = int(bad.index[0]) + 2
        raise ValueError(f"{name}: row {row} has a month that is not a date or holders that is not a number "
                         f"({len(bad)} bad row(s)); use dates like 2019-03-31 and whole numbers")
    if (out["holders"] < 0).any():
        raise ValueError(f"{name}: holders must not be negative")
    out["month"] = out["month"].dt.to_period("M").dt.to_timestamp()
    return out.sort_values("month")


# ---- Streamlit glue ---------------------------------------------------------------------------------

def init_state() -> list[str]:
    """On a session's first run, read the link into session state; return messages about bad params."""
    import streamlit as st

    if "choice" in st.session_state:
        return st.session_state.get("link_errors_shown", [])
    from dashboard.text import plain

    choice, errors = parse_params({k: st.query_params[k] for k in list(st.query_params)[:MAX_PARAMS + 1]})
    st.session_state["choice"] = choice
    st.session_state["link_errors"] = [plain(e) for e in errors]  # shown as text, never as Markdown
    return errors


def current() -> Choice:
    import streamlit as st

    return st.session_state["choice"]


def sync_url() -> None:
    """Write the current choice into the address bar, so the link always reproduces the view."""
    import streamlit as st

    wanted = to_params(current())
    have = {k: st.query_params[k] for k in st.query_params}
    if have != wanted:
        st.query_params.from_dict(wanted)
