"""The parameter register: every number the model uses, with its unit, range and source.

One line per parameter, Covasim-style. The scenario schema, the model, the docs and the dashboard all
read this table, so a label or a range is written once. `low`/`high` is the plausible range (read as an
80% interval by the ensembles); `min`/`max` is what validation accepts. Sources cite DOMAIN.md
(V: official source, V2: secondary, D: derived) or say "assumption" with a one-line reason.
"""

from __future__ import annotations

from typing import Any

from model.register import budgets, ccg, observation, outcomes, patients, policy, services
from model.register.base import COHORT_LABELS, COHORTS, GROUPS, Parameter, Value  # noqa: F401 (the register's API)

REGISTER: tuple[Parameter, ...] = policy.ROWS + ccg.ROWS + patients.ROWS + budgets.ROWS + services.ROWS \
    + outcomes.ROWS + observation.ROWS

BY_NAME: dict[str, Parameter] = {p.name: p for p in REGISTER}
assert len(BY_NAME) == len(REGISTER), "duplicate parameter names in the register"


def defaults() -> dict[str, Value]:
    return {p.name: p.default for p in REGISTER}


def get(name: str) -> Parameter:
    return BY_NAME[name]


def by_group() -> dict[str, list[Parameter]]:
    return {g: [p for p in REGISTER if p.group == g] for g in GROUPS}


def as_records() -> list[dict[str, Any]]:
    """The register as plain rows, for tables in the docs and the dashboard."""
    return [
        dict(name=p.name, label=p.label, group=p.group, unit=p.unit, default=p.default, low=p.low,
             high=p.high, source=p.source)
        for p in REGISTER
    ]


def markdown_table() -> str:
    """The register as the Markdown page docs/parameters.md (regenerate: python -m model.parameters)."""
    lines = ["# Parameter register", "",
             "Generated from `model/parameters.py` by `python -m model.parameters > docs/parameters.md`; "
             "a test fails if this page and the register differ. Range = plausible low–high, read as an "
             "80% interval by ensembles. Sources: V official, V2 secondary, D derived (see DOMAIN.md), "
             "assumption (with its reason), calibrated (fitted by model/calibration.py).", ""]
    for group, params in by_group().items():
        lines += [f"## {group.capitalize()}", "", "| parameter | meaning | unit | default | range | source |",
                  "|---|---|---|---|---|---|"]
        for p in params:
            rng = f"{p.low} – {p.high}" if p.low is not None and p.low != p.high else \
                (", ".join(p.choices) if p.choices else "fixed")
            kind = " (policy lever)" if p.lever else ""
            lines.append(f"| `{p.name}` | {p.label}{kind} | {p.unit} | {p.default} | {rng} | {p.source} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(), end="")
