"""Scenario files: a name, a description, a seed, dates, and overrides of the register's defaults.

Validation is a pydantic model built from the register, so an unknown key, a wrong type, a value out of
range or dates out of order are refused before anything runs, with a message naming the file and field.

Files are hand-edited and passed around, so reading them is defensive (issue 13): the file's size, the
nesting depth, the length of the `extends:` chain and of names are capped; duplicate keys, YAML tags with
bad values, impossible dates, non-finite numbers and `true` for a number are refused; `extends:` resolves
to a file inside scenarios/ or the extending file's own directory, without cycles. Every failure is one
ScenarioError naming the file, the field and what is allowed. New top-level keys (e.g. `vintage`,
`posterior`) are added as fields of `Scenario`; nothing else here needs to change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from model import parameters as reg

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
# libyaml's emitter where PyYAML has it: the same text as the pure-Python one (tests/test_scenarios.py), in a
# fifth of the time (a scenario's YAML is a cache key, written several times a dashboard lever change)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MODEL_START = dt.date(2014, 4, 1)
LATEST_END = dt.date(2030, 3, 31)
MAX_FILE_BYTES = 256 * 1024  # a scenario is a few lines; anything near this is not one
MAX_DEPTH = 6                # scenario > uncertain > name > low: 4 levels are used
MAX_EXTENDS = 8              # length of an `extends:` chain
MAX_NAME = 64                # a scenario name becomes part of file and directory names
MAX_DESCRIPTION = 4000
NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"


class ScenarioError(ValueError):
    """Bad scenario input: the message names the file, the field and what is allowed."""


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("true/false is not a number; give a number")
    return v


# a float that refuses true/false and NaN/infinity (pydantic would read true as 1.0)
Number = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]


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
    return (Number, Field(p.default, ge=p.min, le=p.max, description=p.label))



_DATE_ORDER = (  # (earlier, later): a scenario that breaks one is refused
    ("right_to_ask_date", "right_to_have_date"),
    ("covid_start", "covid_end"),
)

Parameters = create_model(  # type: ignore[call-overload]
    "Parameters",
    __config__=ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False),
    **{p.name: _field_for(p) for p in reg.REGISTER},
)


def _check_date_order(pars: BaseModel) -> None:
    for early, late in _DATE_ORDER:
        if getattr(pars, early) > getattr(pars, late):
            raise ValueError(f"{early} ({getattr(pars, early)}) must not be after {late} ({getattr(pars, late)})")


class Uncertainty(BaseModel):
    """How an ensemble draws one parameter: its register range read as an 80% interval, or stated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    distribution: Literal["normal80", "uniform", "triangular"] = "normal80"
    low: Number | None = None  # type: ignore[valid-type]
    high: Number | None = None  # type: ignore[valid-type]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)
    description: str = Field("", max_length=MAX_DESCRIPTION)
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
        return yaml.dump(json.loads(self.model_dump_json()), Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)

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
        elif e["loc"] and e["loc"][0] in _ALLOWED_TOP:
            msg = f"{msg}; allowed: {_ALLOWED_TOP[e['loc'][0]]}"
        lines.append(f"  - {_short(where, 120)}: {_short(msg, 400)}")
    return "\n".join(lines)


_ALLOWED_TOP = {
    "name": f"letters, digits, _ and -, 1 to {MAX_NAME} characters",
    "description": f"text of at most {MAX_DESCRIPTION} characters",
    "seed": "a whole number from 0 to 2**63-1",
    "until": f"a date YYYY-MM-DD after {MODEL_START}, no later than {LATEST_END}",
    "start": f"{MODEL_START}",
    "agent_scale": "a whole number from 1 to 1000",
    "uncertain": "a mapping of register parameter -> {distribution: normal80|uniform|triangular, low, high}",
}


def _short(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


# ---- reading YAML defensively -----------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a key must be a plain name", key_node.start_mark) from None
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{_short(key, 60)}' (each field may be given once)", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _depth(node: yaml.Node, limit: int, level: int = 1) -> int:
    """Nesting depth of a composed YAML node tree, stopping as soon as it passes `limit`."""
    if level > limit:
        return level
    children: list = []
    if isinstance(node, yaml.MappingNode):
        children = [v for kv in node.value for v in kv]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    return max([level] + [_depth(c, limit, level + 1) for c in children])


def parse_yaml(text: str | bytes, source: str) -> dict[str, Any]:
    """A scenario mapping from YAML text, or one ScenarioError naming `source` (never another exception)."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise ScenarioError(f"{source}: {len(text):,} bytes is too large for a scenario file; allowed: up to "
                                f"{MAX_FILE_BYTES:,} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(f"{source}: not readable YAML (not UTF-8 text: {e.reason} at byte {e.start})") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError(f"{source}: too large for a scenario file; allowed: up to {MAX_FILE_BYTES:,} bytes")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None and _depth(node, MAX_DEPTH) > MAX_DEPTH:
                raise ScenarioError(f"{source}: nested more than {MAX_DEPTH} levels deep; allowed: name, seed, "
                                    "until, parameters: {{name: value}}, uncertain: {{name: {{low, high}}}}")
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except ScenarioError:
        raise
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: not readable YAML ({_short(e, 300)})") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply; allowed: at most {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError, ArithmeticError) as e:
        # a tag or plain value YAML recognised but cannot build: 2021-02-30, !!int with 5000 digits, …
        raise ScenarioError(f"{source}: not readable YAML (a value cannot be read: {_short(e, 200)}); dates "
                            "must be real days as YYYY-MM-DD, numbers plain decimals") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario file must be a mapping of fields (name, seed, parameters, …)")
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        if path.is_dir():
            raise ScenarioError(f"{path}: is a directory; give a scenario file (.yaml)")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: {size:,} bytes is too large for a scenario file; allowed: up to "
                                f"{MAX_FILE_BYTES:,} bytes")
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except OSError as e:
        raise ScenarioError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    return parse_yaml(raw, str(path))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of fields (name, seed, parameters, …)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_describe(e, source)) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # e.g. int too long for a str
        raise ScenarioError(f"{source}: the scenario is not valid: {_short(e, 300)}") from None


def _scenario_path(name_or_path: str | Path) -> Path:
    """Where a scenario given on the command line (or in code) lives: a name in scenarios/, or a file."""
    text = str(name_or_path)
    if "\x00" in text:
        raise ScenarioError(f"{_short(repr(text), 80)}: not a scenario name or file")
    path = Path(text)
    if path.suffix in (".yaml", ".yml"):
        return path
    if not re.fullmatch(NAME_PATTERN, text):
        raise ScenarioError(f"unknown scenario '{_short(text, 80)}'; give a name ({', '.join(available_scenarios())}) "
                            "or a .yaml file")
    path = SCENARIO_DIR / f"{text}.yaml"
    if not path.is_file():
        raise ScenarioError(f"unknown scenario '{text}'; available: {', '.join(available_scenarios())}")
    return path


def _resolve_extends(parent: Any, child: Path) -> Path:
    """The file `extends:` names: a name in scenarios/ (or beside the child), or a .yaml path that must stay
    inside scenarios/ or the child's own directory."""
    if not isinstance(parent, str) or not parent.strip():
        raise ScenarioError(f"{child}: extends: must name another scenario (a name such as baseline, or a .yaml "
                            f"file beside this one); got {_short(repr(parent), 80)}")
    home = child.resolve().parent
    roots = (SCENARIO_DIR.resolve(), home)
    if re.fullmatch(NAME_PATTERN, parent):
        for root in roots:
            if (root / f"{parent}.yaml").is_file():
                return (root / f"{parent}.yaml").resolve()
        raise ScenarioError(f"{child}: extends: unknown scenario '{parent}'; allowed: "
                            f"{', '.join(available_scenarios())}, or a .yaml file beside this one")
    target = Path(parent)
    if "\x00" in parent or target.suffix not in (".yaml", ".yml"):
        raise ScenarioError(f"{child}: extends: '{_short(parent, 80)}' is not a scenario name (letters, digits, _ "
                            "and -) nor a .yaml file")
    try:
        target = (target if target.is_absolute() else home / target).resolve()
    except (OSError, RuntimeError, ValueError) as e:
        raise ScenarioError(f"{child}: extends: '{_short(parent, 80)}' cannot be resolved ({e})") from None
    if not any(target.is_relative_to(r) for r in roots):
        raise ScenarioError(f"{child}: extends: '{_short(parent, 80)}' is outside scenarios/ and this file's "
                            "directory; allowed: a shipped scenario or a file beside this one")
    return target


def load_scenario(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> Scenario:
    """Read a scenario by name (from scenarios/) or by path; `extends: other` inherits another file."""
    path = _scenario_path(name_or_path)
    data = _load_chain(path, ())
    return scenario_from_dict(data, str(path))


def _load_chain(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The merged mapping of `path` and every file it extends (validated once, at the end)."""
    data = _read_yaml(path)
    if "extends" not in data:
        return data
    parent = data.pop("extends")
    me = path.resolve()
    target = _resolve_extends(parent, path)
    if target == me or target in seen:
        chain = " -> ".join(str(p) for p in (*seen, me, target))
        raise ScenarioError(f"{path}: extends: '{parent}' makes a cycle ({_short(chain, 400)}); allowed: a chain "
                            "that ends in a scenario without extends:")
    if len(seen) + 1 >= MAX_EXTENDS:
        raise ScenarioError(f"{path}: extends: the chain is longer than {MAX_EXTENDS} files; allowed: up to "
                            f"{MAX_EXTENDS}")
    base_data = _load_chain(target, (*seen, me))
    base = scenario_from_dict(base_data, str(target)).model_dump()  # the parent must be valid on its own
    base.pop("description", None)
    return _merge(base, data)


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
