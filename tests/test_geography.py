"""Behaviour of the shipped CCG geography (model/geography.py + model/data tables)."""

import datetime as dt
import filecmp
from collections import defaultdict
from pathlib import Path

import pytest

from model.data import derive_ccg_tables
from model.geography import DATA_DIR, load_geography

D = dt.date
COUNTS = {
    D(2013, 4, 1): 211, D(2014, 4, 1): 211, D(2015, 4, 1): 209, D(2017, 4, 1): 207,
    D(2018, 4, 1): 195, D(2019, 4, 1): 191, D(2020, 4, 1): 135, D(2021, 4, 1): 106,
    D(2022, 7, 1): 42,
}
REGIONS = {"North East and Yorkshire", "North West", "Midlands", "East of England",
           "London", "South East", "South West"}
SOURCE = Path("/work/shared/data/ccg")


@pytest.fixture(scope="module")
def geo():
    return load_geography()


def apply(geo, day, mass):
    """Move a {code: amount} vector through the transitions taking effect on day."""
    t = geo.transitions_on(day)
    movers = set(t["from_code"])
    out = defaultdict(float, {c: v for c, v in mass.items() if c not in movers})
    for f, to, s in t.itertuples(index=False):
        out[to] += mass[f] * s
    return dict(out)


@pytest.mark.parametrize("day,n", sorted(COUNTS.items()))
def test_counts_on_each_date(geo, day, n):
    assert len(geo.open_on(day)) == n


def test_transition_dates(geo):
    assert geo.transition_dates() == [D(2015, 4, 1), D(2017, 4, 1), D(2018, 4, 1), D(2019, 4, 1),
                                      D(2020, 4, 1), D(2021, 4, 1), D(2022, 7, 1)]


def test_nothing_open_before_2013_and_all_ccgs_closed_by_icbs(geo):
    assert geo.open_on(D(2013, 3, 31)) == []
    icbs = geo.open_on(D(2022, 7, 1))
    assert set(geo.organisations.loc[icbs, "kind"]) == {"icb"}
    assert geo.open_on(D(2030, 1, 1)) == icbs


@pytest.mark.parametrize("day", load_geography().transition_dates())
def test_transitions_map_open_before_to_open_after(geo, day):
    before = geo.open_on(day - dt.timedelta(days=1))
    after = geo.open_on(day)
    t = geo.transitions_on(day)
    assert set(t["from_code"]) <= set(before)
    assert set(t["to_code"]) <= set(after)
    assert set(apply(geo, day, {c: 1.0 for c in before})) == set(after)


def test_shares_sum_to_one(geo):
    sums = geo.transitions.groupby(["date", "from_code"])["share"].sum()
    assert ((sums - 1.0).abs() < 1e-9).all()
    assert (geo.transitions["share"] > 0).all()


def test_known_splits_use_lsoa_fractions(geo):
    t = geo.transitions
    split = t[t["share"] < 1].groupby("from_code")["to_code"].apply(set).to_dict()
    assert split == {"01H": {"01H", "01K"}, "06Y": {"06Y", "06W"}, "01E": {"01E", "02M"},
                     "01K": {"01K", "02M"}, "09G": {"70F", "92A"}}


def test_population_conserved_and_consistent_with_shares(geo):
    orgs = geo.organisations
    start = geo.open_on(D(2013, 4, 1))
    mass = {c: float(orgs.at[c, "population"]) for c in start}
    total = sum(mass.values())
    assert total == 56_452_350
    for day in geo.transition_dates():
        mass = apply(geo, day, mass)
        assert sum(mass.values()) == pytest.approx(total, abs=1)
        assert set(mass) == set(geo.open_on(day))
        for code in mass:
            if orgs.at[code, "open_date"] == day:  # newly formed: population = sum of parts by share
                assert orgs.at[code, "population"] == pytest.approx(mass[code], abs=1)
        table_total = orgs.loc[geo.open_on(day), "population"].sum()
        assert table_total == pytest.approx(total, abs=len(mass))


def test_every_organisation_has_one_of_seven_regions(geo):
    assert set(geo.organisations["region"]) == REGIONS
    assert geo.organisations["region"].notna().all()


def test_going_further_faster_sites(geo):
    gff = geo.organisations["going_further_faster"]
    flagged_2013 = {c for c in geo.open_on(D(2013, 4, 1)) if gff[c]}
    assert flagged_2013 == {"00K", "00M", "00W", "01M", "01N", "03F", "04K", "10Q", "04G", "03V",
                            "08K", "11J", "09C", "09E", "09J", "09W", "10A", "10D", "10E", "99J"}
    assert gff["00C"] == 0  # Darlington
    assert gff["14L"] == 1  # Manchester, formed from three GFF CCGs
    assert gff["91Q"] == 1  # Kent and Medway


def test_regeneration_is_byte_identical(tmp_path):
    if not SOURCE.is_dir():
        pytest.skip("source data not available")
    assert derive_ccg_tables.main([str(SOURCE), "--out", str(tmp_path)]) == 0
    for name in ("ccgs.csv", "ccg_transitions.csv"):
        assert filecmp.cmp(tmp_path / name, DATA_DIR / name, shallow=False), name


def test_missing_source_gives_clean_error(tmp_path, capsys):
    assert derive_ccg_tables.main([str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 1
    assert "source directory not found" in capsys.readouterr().err
