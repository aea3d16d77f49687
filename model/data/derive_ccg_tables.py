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

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = Path("..") / "shared" / "data" / "ccg"
DEFAULT_OUT = Path(__file__).resolve().parent

OP = "ebmdatalab_openprescribing/"
ONS = "jtrim-ons_ons-lookups/csv/"
OI = "open-innovations_mental-health-data-map/data/"
FILES = {
    "ccg13": OP + "data_org_codes_2013/CCG_APR_2013.csv",
    "ccg13_at": OP + "data_org_codes_2013/CCG13_NHSAT13_NHSCR13_EW_LU.csv",
    "eccg16": OP + "data_org_codes_2016-02/eccg.csv",
    "eccg18": OP + "pipeline_ccg_details_2018_11/eccg.csv",
    "list14": OP + "data_list_sizes/Patient_List_Size_2014_04-06.csv",
    "list16": OP + "data_list_sizes/Patient_List_Size_2016_01-03.csv",
    "lsoa15": ONS + "212.csv",
    "lsoa16": ONS + "211.csv",
    "lsoa17": ONS + "226.csv",
    "lsoa18": ONS + "216.csv",
    "lsoa19": ONS + "217.csv",
    "lsoa20": ONS + "219.csv",
    "names17": ONS + "270.csv",
    "names18": ONS + "202.csv",
    "names19": ONS + "273.csv",
    "stp20": ONS + "031.csv",
    "ccg21": OI + "ref_ccg21.csv",
    "pop21": OI + "ons-population-estimates.csv",
    "gpmap": "nhsx-mirror_SystemHierarchies/data/gp-reg-pat-prac-map.csv",
}

D = dt.date
# First day under each new configuration, and the number of organisations open then.
STEPS = [
    (D(2013, 4, 1), 211),
    (D(2015, 4, 1), 209),
    (D(2017, 4, 1), 207),
    (D(2018, 4, 1), 195),
    (D(2019, 4, 1), 191),
    (D(2020, 4, 1), 135),
    (D(2021, 4, 1), 106),
    (D(2022, 7, 1), 42),
]
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


class DataError(Exception):
    """A source file is missing or does not say what we expect."""


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise DataError(msg)


def read(src: Path, key: str, **kw) -> pd.DataFrame:
    path = src / FILES[key]
    check(path.is_file(), f"missing source file: {path}")
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kw)


# --------------------------------------------------------------------------
# Which organisations exist in each period
# --------------------------------------------------------------------------

def lsoa_map(src: Path, key: str, yy: str) -> pd.Series:
    """LSOA11CD -> CCG ODS code for one ONS vintage."""
    df = read(src, key)
    return df.set_index("LSOA11CD")[f"CCG{yy}CDH"].sort_index()


def overlap_shares(old: pd.Series, new: pd.Series) -> dict[str, dict[str, int]]:
    """Count, for each old organisation, how many of its units go to each new one."""
    joined = pd.DataFrame({"old": old, "new": new}).dropna()
    check(len(joined) == len(old) == len(new), "LSOA lookups do not cover the same LSOAs")
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (o, n), k in joined.groupby(["old", "new"]).size().items():
        out[o][n] = int(k)
    return out


def practice_map(src: Path, key: str) -> pd.DataFrame:
    df = read(src, key)
    bands = df.columns[8:26]
    check(len(bands) == 18 and bands[0] == "Male 0-4", f"{FILES[key]}: unexpected columns")
    df["patients"] = df[bands].astype(int).sum(axis=1)
    df["ccg"] = df["PCO Code"].str[:3]
    return df[["Practice Code", "ccg", "patients"]]


def transitions_from_overlap(counts, old_codes, new_codes, what) -> list[tuple[str, str, float]]:
    """Turn overlap counts into (from, to, share) rows for organisations that change.

    An organisation whose units all stay with its own code is unchanged and gets
    no row; a split organisation gets one row per destination (including itself
    if it continues).
    """
    rows = []
    for o in sorted(old_codes):
        dest = counts.get(o, {})
        check(dest, f"{what}: {o} has no units in the old lookup")
        if set(dest) == {o}:
            continue
        check(o not in new_codes or o in dest, f"{what}: {o} continues but keeps none of its area")
        total = sum(dest.values())
        for n in sorted(dest):
            check(n in new_codes, f"{what}: {o} maps to {n}, which is not open")
            rows.append((o, n, dest[n] / total))
    return rows


def build_periods(src: Path):
    """Return {date: set of open codes}, {date: transition rows}, extra facts."""
    c13 = read(src, "ccg13", encoding="cp1252")
    codes = {STEPS[0][0]: set(c13["CCG13CDH"])}
    trans: dict[dt.date, list] = {}

    # 2013 -> 2015: no 2013 LSOA lookup, so link through GP practices
    # (NHSBSA list sizes Apr-Jun 2014 vs Jan-Mar 2016), weighted by patients.
    p14, p16 = practice_map(src, "list14"), practice_map(src, "list16")
    lsoa = {yy: lsoa_map(src, f"lsoa{yy}", yy) for yy in ("15", "16", "17", "18", "19", "20")}
    check(lsoa["15"].equals(lsoa["16"]), "July 2015 and April 2016 LSOA lookups differ")
    codes[D(2015, 4, 1)] = set(lsoa["16"])
    j = p14.merge(p16, on="Practice Code", suffixes=("_14", "_16"))
    j = j[j["ccg_14"].isin(codes[D(2013, 4, 1)]) & j["ccg_16"].isin(codes[D(2015, 4, 1)])]
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for (o, n), k in j.groupby(["ccg_14", "ccg_16"])["patients_14"].sum().items():
        counts[o][n] = int(k)
    # Practices that change CCG while their CCG continues are re-registrations,
    # not boundary moves: keep only organisations that actually close, and
    # send each whole to the successor holding most of its patients.
    old, new = codes[D(2013, 4, 1)], codes[D(2015, 4, 1)]
    rows = []
    for o in sorted(old - new):
        dest = counts.get(o, {})
        check(dest, f"2013->2015: no practices found for {o}")
        best = max(sorted(dest), key=lambda n: dest[n])
        check(dest[best] / sum(dest.values()) > 0.95, f"2013->2015: {o} has no clear successor")
        check(best in new - old, f"2013->2015: {o} maps to continuing {best}")
        rows.append((o, best, 1.0))
    trans[D(2015, 4, 1)] = rows

    # 2016 -> 2020: ONS LSOA lookups (the official cross-vintage link).
    for (day, _), yy_old, yy_new in zip(STEPS[2:6], ("16", "17", "18", "19"), ("17", "18", "19", "20")):
        codes[day] = set(lsoa[yy_new])
        trans[day] = transitions_from_overlap(
            overlap_shares(lsoa[yy_old], lsoa[yy_new]), set(lsoa[yy_old]), codes[day], f"{yy_old}->{yy_new}")

    # 2020 -> 2021: no 2021 LSOA lookup. The 2021 mergers were all within one STP,
    # so each closing 2020 CCG goes whole to the one new 2021 CCG in its STP.
    stp20 = read(src, "stp20")
    ccg21 = read(src, "ccg21")
    pop21 = read(src, "pop21", encoding="utf-8-sig")
    c21 = ccg21.merge(pop21, left_on="CCG21CD", right_on="CCG Code", how="left")
    check(c21["STP21 Code"].ne("").all() and c21["CCG Code"].notna().all(), "2021 CCGs missing from population file")
    old, new = codes[D(2020, 4, 1)], set(ccg21["CCG21CDH"])
    check(set(stp20["CCG20CDH"]) == old, "031.csv does not match the April 2020 LSOA lookup")
    codes[D(2021, 4, 1)] = new
    rows = []
    for o, stp in sorted(zip(stp20["CCG20CDH"], stp20["STP20CD"])):
        if o in new:
            continue
        cand = sorted(set(c21.loc[c21["STP21 Code"] == stp, "CCG21CDH"]) - old)
        check(len(cand) == 1, f"2020->2021: {o} has {len(cand)} candidate successors in STP {stp}")
        rows.append((o, cand[0], 1.0))
    trans[D(2021, 4, 1)] = rows
    check_2021_by_practice(src, rows, trans, lsoa["16"], p16, codes)

    # 2021 -> 2022-07-01: every CCG goes whole to its STP, which became its ICB.
    gp = read(src, "gpmap")
    ccg_stp = gp[["CCG_CODE", "STP_CODE"]].drop_duplicates()
    check(ccg_stp["CCG_CODE"].is_unique, "a CCG spans two STPs in the Jan 2022 map")
    check(set(ccg_stp["CCG_CODE"]) == new, "Jan 2022 map CCGs differ from ref_ccg21.csv")
    codes[D(2022, 7, 1)] = set(ccg_stp["STP_CODE"])
    trans[D(2022, 7, 1)] = sorted((c, s, 1.0) for c, s in zip(ccg_stp["CCG_CODE"], ccg_stp["STP_CODE"]))

    for day, n in STEPS:
        check(len(codes[day]) == n, f"{day}: expected {n} organisations, found {len(codes[day])}")
    return codes, trans, dict(c13=c13, pop21=pop21, c21=c21, gp=gp, p14=p14)


def check_2021_by_practice(src, rows21, trans, lsoa16, p16, codes) -> None:
    """Cross-check the STP-based 2021 mapping against GP practices (2016 -> Jan 2022)."""
    gp = read(src, "gpmap")
    fwd = {}
    for c in codes[D(2015, 4, 1)]:
        cur = c
        for day in (D(2017, 4, 1), D(2018, 4, 1), D(2019, 4, 1), D(2020, 4, 1), D(2021, 4, 1)):
            dests = [(s, t) for f, t, s in trans[day] if f == cur]
            if dests:
                cur = max(dests)[1]
        fwd[c] = cur
    j = p16.merge(gp[["PRACTICE_CODE", "CCG_CODE"]], left_on="Practice Code", right_on="PRACTICE_CODE")
    j = j[j["ccg"].isin(fwd.keys())]
    agree = (j["ccg"].map(fwd) == j["CCG_CODE"]).mean()
    check(agree > 0.98, f"2021 mapping agrees with practice moves for only {agree:.1%} of practices")


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
