"""Which commissioning organisations exist in each period, and who became whom: the boundary part of
`model.data.derive_ccg_tables` (the source files it reads, its strict checks, and the period-by-period links
between organisations: GP practices for 2013->2015, ONS LSOA lookups for 2016->2020, STPs for 2021 and 2022).

Kept apart from the attributes (names, populations, pilot sites) so each file reads in one sitting.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pandas as pd

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
