"""Scenario files: a name, a description, a seed, dates, and overrides of the register's defaults.

Validation is a pydantic model built from the register, so an unknown key, a wrong type, a value out of
range or dates out of order are refused before anything runs, with a message naming the file and field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from model import parameters as reg

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
MODEL_START = dt.date(2014, 4, 1)
LATEST_END = dt.date(2030, 3, 31)


class ScenarioError(ValueError):
    """Bad scenario input: the message names the file, the field and what is allowed."""


def _field_for(p: reg.Parameter) -> tuple[Any, Any]:
    if p.choices:
        return (Literal[p.choices], Field(p.default, description=p.label))  # type: ignore[valid-type]
    kind = p.kind
    if kind is bool:
        return (bool, Field(p.default, description=p.label, strict=True))
    if kind is dt.date:
        return (dt.date, Field(p.default, ge=p.min, le=p.max, description=p.label))
    if kind is int:
        return (int, Field(p.default, ge=p.min, le=p.max, description=p.label, strict=True))
    return (float, Field(p.default, ge=p.min, le=p.max, description=p.label))


_DATE_ORDER = (  # (earlier, later): a scenario that breaks one is refused
    ("right_to_ask_date", "right_to_have_date"),
    ("covid_start", "covid_end"),
)

Parameters = create_model(  # type: ignore[call-overload]
    "Parameters",
    __config__=ConfigDict(extra="forbid", frozen=True, validate_default=True),
    **{p.name: _field_for(p) for p in reg.REGISTER},
)


def _check_date_order(pars: BaseModel) -> None:
    for early, late in _DATE_ORDER:
        if getattr(pars, early) > getattr(pars, late):
            raise ValueError(f"{early} ({getattr(pars, early)}) must not be after {late} ({getattr(pars, late)})")


class Uncertainty(BaseModel):
    """How an ensemble draws one parameter: its register range read as an 80% interval, or stated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    distribution: Literal["normal80", "uniform", "triangular"] = "normal80"
    low: float | None = None
    high: float | None = None


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    seed: int = Field(20140401, ge=0, le=2**63 - 1, strict=True)
    start: dt.date = MODEL_START
    until: dt.date = dt.date(2021, 3, 31)
    agent_scale: int = Field(1, ge=1, le=1000, strict=True)
    parameters: Parameters = Field(default_factory=Parameters)  # type: ignore[valid-type]
    uncertain: dict[str, Uncertainty] = Field(default_factory=dict)
    calibrate: list[str] = Field(default_factory=list)  # parameters `phb calibrate` fits (default: register's)
    posterior: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]+$")  # posteriors/NAME.csv, used by ensembles

    @model_validator(mode="after")
    def _dates_in_order(self) -> "Scenario":
        if self.start != MODEL_START:
            raise ValueError(f"start must be {MODEL_START} (the model begins with the right to ask)")
        if not (self.start < self.until <= LATEST_END):
            raise ValueError(f"until must be after {self.start} and no later than {LATEST_END}")
        _check_date_order(self.parameters)
        for name, how in self.uncertain.items():
            p = reg.BY_NAME.get(name)
            if p is None or not p.uncertain:
                raise ValueError(f"uncertain.{name}: not a numeric register parameter with a range")
            lo = p.low if how.low is None else how.low
            hi = p.high if how.high is None else how.high
            if lo > hi:
                raise ValueError(f"uncertain.{name}: low {lo} is above high {hi}")
        for name in self.calibrate:
            p = reg.BY_NAME.get(name)
            if p is None or not p.uncertain:
                raise ValueError(f"calibrate: {name} is not a numeric register parameter with a range")
        return self

    def with_parameters(self, **changes: Any) -> "Scenario":
        """A copy with some parameters changed, validated again."""
        data = self.model_dump()
        data["parameters"].update(changes)
        return Scenario.model_validate(data)

    def with_(self, **changes: Any) -> "Scenario":
        data = self.model_dump()
        data.update(changes)
        return Scenario.model_validate(data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(json.loads(self.model_dump_json()), sort_keys=False, allow_unicode=True)

    def overrides(self) -> dict[str, Any]:
        """Parameters that differ from the register's defaults."""
        d = reg.defaults()
        return {k: v for k, v in self.parameters.model_dump().items() if v != d[k]}

    def digest(self) -> str:
        """Hash of everything that affects results: the cache key of a run."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"{source}: the scenario is not valid:"]
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            top = e["loc"][0] if e["loc"] else ""
            allowed = sorted(reg.BY_NAME) if top == "parameters" else sorted(Scenario.model_fields)
            close = [a for a in allowed if a[:4] == str(e["loc"][-1])[:4]]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            msg = f"unknown field{hint} (allowed: see the parameter register)" if top == "parameters" else \
                f"unknown field{hint} (allowed: {', '.join(allowed)})"
        elif e["loc"] and e["loc"][0] == "parameters" and len(e["loc"]) > 1:
            p = reg.BY_NAME.get(str(e["loc"][1]))
            if p is not None:
                allowed = f"one of {', '.join(p.choices)}" if p.choices else \
                    f"a {p.kind.__name__} from {p.min} to {p.max} ({p.unit})"
                msg = f"{msg}; allowed: {allowed}"
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path}: not readable YAML ({e})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario file must be a mapping of fields (name, seed, parameters, …)")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_describe(e, source)) from None


def load_scenario(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> Scenario:
    """Read a scenario by name (from scenarios/) or by path; `extends: other` inherits another file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ScenarioError(
                f"unknown scenario '{name_or_path}'; available: {', '.join(available_scenarios())}"
            )
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str) or parent in _seen:
            raise ScenarioError(f"{path}: extends: must name another scenario, without cycles")
        base = load_scenario(parent, _seen + (path.stem,)).model_dump()
        base.pop("description", None)
        data = _merge(base, data)
    return scenario_from_dict(data, str(path))


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
