"""Derive the compact CCG reference tables shipped with the model.

Run from the repository root::

    python -m model.data.derive_ccg_tables [SOURCE_DIR] [--out DIR]

SOURCE_DIR defaults to ``../shared/data/ccg`` (relative to the repository root);
``--out`` defaults to this package directory. It writes ``ccgs.csv`` (one row per
commissioning organisation 2013-04-01 .. 2022-07-01) and ``ccg_transitions.csv``
(who became whom, with shares). The source files are public ONS / NHS Digital /
NHSBSA data (Open Government Licence v3.0); see ``model/data/README.md``.

The script is deliberately strict: every count it relies on is checked, and a
failed check stops it with a plain message, because a silently wrong geography
would make every simulated roll-out wrong. Output is sorted and formatted with
fixed precision so re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

from model.data.ccg_periods import D, FILES, STEPS, DataError, build_periods, check, read

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = Path("..") / "shared" / "data" / "ccg"
DEFAULT_OUT = Path(__file__).resolve().parent

REGIONS = {
    "North East and Yorkshire", "North West", "Midlands", "East of England",
    "London", "South East", "South West",
}
# 'Going further, faster' PHB pilot sites named by NHS England in Nov 2012, as
# April 2013 CCG codes (Kent and Medway is added from the 2013 area-team lookup).
GFF_2013 = {
    "00K": "Hartlepool and Stockton-on-Tees", "00M": "South Tees",
    "00W": "Central Manchester", "01M": "North Manchester", "01N": "South Manchester",
    "03F": "Hull", "04K": "Nottingham City", "10Q": "Oxfordshire",
    "04G": "Nene", "03V": "Corby", "08K": "Lambeth", "11J": "Dorset",
}
GFF_AREA_TEAM = "Kent and Medway"
SHARE_DP = 6


# --------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------

def round_shares(rows: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """Round shares to SHARE_DP places, keeping each from-organisation's total exactly 1."""
    by_from: dict[str, list] = defaultdict(list)
    for f, t, s in rows:
        by_from[f].append([t, round(s, SHARE_DP)])
    out = []
    for f in sorted(by_from):
        dests = sorted(by_from[f])
        biggest = max(range(len(dests)), key=lambda i: (dests[i][1], -i))
        dests[biggest][1] = round(1.0 - sum(s for i, (_, s) in enumerate(dests) if i != biggest), SHARE_DP)
        out += [(f, t, s) for t, s in dests]
    return out


def names(src: Path, extra) -> dict[str, str]:
    """Latest official name per ODS code (later ONS vintages override earlier)."""
    out = {c: n.strip() + " CCG" for c, n in zip(extra["c13"]["CCG13CDH"], extra["c13"]["CCG13NM"])}
    for key, yy in (("lsoa15", "15"), ("lsoa16", "16"), ("names17", "17"), ("names18", "18"),
                    ("names19", "19"), ("stp20", "20"), ("ccg21", "21")):
        df = read(src, key)[[f"CCG{yy}CDH", f"CCG{yy}NM"]].drop_duplicates()
        out.update({c: n.strip() for c, n in zip(df.iloc[:, 0], df.iloc[:, 1])})
    gp = extra["gp"][["STP_CODE", "STP_NAME"]].drop_duplicates()
    out.update({c: n.strip() for c, n in zip(gp["STP_CODE"], gp["STP_NAME"])})
    return out


def populations_2014(extra, codes13: set[str]) -> dict[str, float]:
    p = extra["p14"]
    p = p[p["ccg"].isin(codes13)].groupby("ccg")["patients"].sum()
    check(set(p.index) == codes13, "some 2013 CCGs have no practices in the 2014 list sizes")
    check(int(p.sum()) == 56_452_350, f"2014 list-size total {int(p.sum())} != 56,452,350 (README check)")
    return {c: float(v) for c, v in p.items()}


def gff_2013(extra) -> set[str]:
    c13 = extra["c13"]
    names13 = dict(zip(c13["CCG13CDH"], c13["CCG13NM"]))
    for code, label in GFF_2013.items():
        check(label in names13.get(code, ""), f"GFF site {code} is not '{label}' in the 2013 list")
    return set(GFF_2013) | kent(extra)


def kent(extra) -> set[str]:
    c13 = extra["c13"]
    return set(c13.loc[c13["CCG13CD"].isin(extra["kent_e38"]), "CCG13CDH"])


def derive(src: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    codes, trans, extra = build_periods(src)
    at = read(src, "ccg13_at")
    extra["kent_e38"] = set(at.loc[at["NHSAT13NM"] == GFF_AREA_TEAM, "CCG13CD"])
    check(len(extra["kent_e38"]) == 8, "expected 8 CCGs in the Kent and Medway area team")
    trans = {d: round_shares(rows) for d, rows in trans.items()}
    days = [d for d, _ in STEPS]

    # open / close dates
    open_d, close_d = {}, {}
    for i, d in enumerate(days):
        for c in codes[d]:
            open_d.setdefault(c, d)
            if i + 1 < len(days) and c not in codes[days[i + 1]]:
                close_d[c] = days[i + 1] - dt.timedelta(days=1)
    check_ods_dates(src, open_d, close_d)

    # population: 2014 list sizes, carried through the transitions by share
    state = populations_2014(extra, codes[days[0]])
    pop = dict(state)
    gff = {c: int(c in gff_2013(extra)) for c in codes[days[0]]}
    for d in days[1:]:
        movers = {f for f, _, _ in trans[d]}
        new_state = {c: v for c, v in state.items() if c not in movers}
        for f, t, s in trans[d]:
            new_state[t] = new_state.get(t, 0.0) + state[f] * s
        check(set(new_state) == codes[d], f"{d}: transitions do not reproduce the open organisations")
        for t in sorted(codes[d] - set(state)):
            pop[t] = new_state[t]
            gff[t] = int(any(gff[f] for f, tt, _ in trans[d] if tt == t))
        state = new_state

    # region: NHS England region (2019+) of the 2021 CCG holding most of the organisation's people
    reg21 = dict(zip(extra["c21"]["CCG21CDH"], extra["c21"]["NHSER21 Name"]))
    gp = extra["gp"]
    reg = dict(zip(gp["STP_CODE"], gp["COMM_REGION_NAME"]))
    for c in sorted(open_d):
        if c in reg:
            continue
        mass = {c: 1.0}
        for d in days[1:7]:
            if d <= open_d[c]:
                continue
            nxt: dict[str, float] = defaultdict(float)
            movers = {f for f, _, _ in trans[d]}
            for k, v in mass.items():
                if k not in movers:
                    nxt[k] += v
            for f, t, s in trans[d]:
                if f in mass:
                    nxt[t] += mass[f] * s
            mass = nxt
        reg[c] = reg21[max(sorted(mass), key=lambda k: mass[k])]
    check(set(reg.values()) == REGIONS, f"unexpected region names {sorted(set(reg.values()))}")
    for f, t, _ in trans[D(2022, 7, 1)]:
        check(reg[f] == reg[t], f"CCG {f} and its ICB {t} are in different regions")

    nm = names(src, extra)
    orgs = pd.DataFrame({
        "code": sorted(open_d),
    })
    orgs["name"] = orgs["code"].map(nm)
    orgs["kind"] = ["icb" if c in codes[days[-1]] else "ccg" for c in orgs["code"]]
    orgs["region"] = orgs["code"].map(reg)
    orgs["open_date"] = orgs["code"].map(lambda c: open_d[c].isoformat())
    orgs["close_date"] = orgs["code"].map(lambda c: close_d[c].isoformat() if c in close_d else "")
    orgs["population"] = orgs["code"].map(lambda c: f"{pop[c]:.0f}")
    orgs["going_further_faster"] = orgs["code"].map(gff)
    check(orgs.notna().all().all(), "some organisation lacks a name, region or flag")
    check(int(orgs["going_further_faster"].sum()) > 0, "no GFF site flagged")

    tr = pd.DataFrame(
        [(d.isoformat(), f, t, f"{s:.{SHARE_DP}f}") for d in days[1:] for f, t, s in trans[d]],
        columns=["date", "from_code", "to_code", "share"],
    ).sort_values(["date", "from_code", "to_code"], kind="stable")
    return orgs, tr


def check_ods_dates(src: Path, open_d, close_d) -> None:
    """The ODS eccg extracts must agree with the open/close dates we inferred."""
    for key in ("eccg16", "eccg18"):
        e = read(src, key, header=None)
        e = e[e[13] == "C"]
        for code, od, cd in zip(e[0], e[10], e[11]):
            check(code in open_d, f"{FILES[key]}: CCG {code} unknown")
            # ODS may record legal establishment before commissioning began
            # (13T: 2014-11-26, commissioning from 2015-04-01), so only require <=.
            check(od <= open_d[code].strftime("%Y%m%d"), f"{key}: open date of {code} is {od}")
            if cd:
                check(cd == close_d.get(code, D(1, 1, 1)).strftime("%Y%m%d"), f"{key}: close date of {code} is {cd}")


def write(orgs: pd.DataFrame, tr: pd.DataFrame, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    orgs.to_csv(out / "ccgs.csv", index=False, lineterminator="\n")
    tr.to_csv(out / "ccg_transitions.csv", index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE),
                    help="source data directory (relative paths are taken from the repository root)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: model/data)")
    args = ap.parse_args(argv)
    src = Path(args.source)
    if not src.is_absolute():
        src = (REPO_ROOT / src).resolve()
    try:
        check(src.is_dir(), f"source directory not found: {src}")
        orgs, tr = derive(src)
        write(orgs, tr, Path(args.out))
    except DataError as e:
        print(f"derive_ccg_tables: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(orgs)} organisations and {len(tr)} transition rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
