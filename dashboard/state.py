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

from dashboard.link_view import (  # noqa: F401 (re-exported: pages and tests read them from here)
    _DIGITS,
    MAX_KEY,
    MAX_LINK_COST,
    MAX_PARAMS,
    MAX_VALUE,
    SCENARIO_KEYS,
    VIEW_DEFAULTS,
    VIEW_RULES,
    cap_cost,
    link_cost,
    reach_lever_names,
    show,
)
from model import parameters as reg
from model.scenario import (
    Scenario,
    ScenarioError,
    available_scenarios,
    load_scenario,
    parse_yaml,
    scenario_from_dict,
)


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
