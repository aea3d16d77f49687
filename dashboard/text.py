"""Words shown to users, read from files in dashboard/content (never written in code)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd
import yaml

CONTENT = Path(__file__).resolve().parent / "content"
ODD = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"


@functools.lru_cache(maxsize=None)
def md(name: str) -> str:
    return (CONTENT / f"{name}.md").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def labels() -> dict:
    return yaml.safe_load((CONTENT / "labels.yaml").read_text(encoding="utf-8"))


def plain(message: object) -> str:
    """A message that quotes user text (a link, a file), made safe for st.error/st.markdown: each line
    is a Markdown code span, so no link, image, HTML, emphasis, emoji or maths in it is ever rendered."""
    lines = []
    for line in str(message).splitlines() or [""]:
        line = line.replace("\r", " ")
        run = max((len(r) for r in re.findall(r"`+", line)), default=0)
        fence = "`" * (run + 1)
        lines.append(f"{fence} {line} {fence}" if line.strip() else "")
    return "  \n".join(lines)


def escaped(value: object) -> str:
    """A short piece of user text (a scenario's name) inside a Markdown sentence: every character that
    Markdown gives a meaning is backslash-escaped, so it reads as typed."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~$:])", r"\\\1", str(value).replace("\n", " "))


def measure(name: str) -> str:
    return labels()["measures"].get(name, name.replace("_", " "))


def targets() -> list[tuple[int, str]]:
    return [(int(v), str(t)) for v, t in labels()["targets"]]


@functools.lru_cache(maxsize=1)
def calibration_points() -> pd.DataFrame:
    """Published figures (a copy of shared/data/phb_uptake_calibration.csv), dated at mid-period."""
    df = pd.read_csv(CONTENT / "calibration_points.csv", parse_dates=["period_start", "period_end"])
    df["month"] = df["period_start"] + (df["period_end"] - df["period_start"]) / 2
    df["month"] = df["month"].dt.to_period("M").dt.to_timestamp()
    df["label"] = df["measure"].map(labels()["calibration_measures"]).fillna(df["measure"])
    return df


def odd_summary() -> str | None:
    return ODD.read_text(encoding="utf-8") if ODD.exists() else None
