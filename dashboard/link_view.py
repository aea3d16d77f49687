"""The view options a shared link carries beside the scenario: their defaults, what each allows, and the
limits on a link (length, digits, cost). Pure functions over strings, tested through dashboard/state.py,
which parses whole links with them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from model import parameters as reg
from model.backtest import LINK_PATTERN
from model.scenario import ScenarioError, available_scenarios

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
