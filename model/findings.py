"""`phb findings`: the pilot evaluation's patterns (DOMAIN.md, seed 003) measured from the model, printed as the
Markdown table of docs/validation.md ("Evaluation findings").

Why a command: the table's figures were once measured by hand and went stale when a rule changed. Here every
figure comes from the project's own tables (`Sim` with its no-PHB twin, `cost_per_outcome`, `per_run` of
`phb contrast`), and "reproduced?" is worked out from the figures by the same checks as the tests named
in the table, so a finding that stops holding says "no" instead of keeping an old "yes".
"""

from __future__ import annotations

import argparse
import datetime as dt
import re

import pandas as pd

from model.outcomes import HOLD_TYPES
from model.register.base import COHORTS

EVALUATION_GAIN = 0.057 - 0.018  # extra ASCOT gain with a PHB in the evaluation (DOMAIN.md; evidence E20)
GAIN_TOLERANCE = 0.01  # "calibrated size": the model's mean extra gain within this of the evaluation's
NEUTRAL_SHARE = 0.02  # "no overall cost difference": net cost within 2% of CCG spend (test_patterns.py)
RESTRICTIVENESS = (0.1, 0.8)  # CCGs' mean restrictiveness, lax and tight
BUDGET_FACTORS = (0.5, 1.0, 2.0)  # every cohort's median budget times these
EFFECTIVE = ("chc", "mental_health")  # the groups the evaluation found cost-effective
NAMES = {"chc": "CHC", "mental_health": "mental health", "children": "children", "learning_disability":
         "learning disability", "long_term": "long-term conditions", "wheelchair": "wheelchair",
         "notional": "notional", "third_party": "third party", "direct_payment": "direct payment"}


def year_flag(text: str) -> int:
    """`--year`: a financial year as YYYY/YY (e.g. 2020/21) in the model's span; returns its first year."""
    from model.scenario import LATEST_END, MODEL_START

    m = re.fullmatch(r"(\d{4})(?:[/-](\d{2}))?", text.strip())
    if not m or (m[2] is not None and int(m[2]) != (int(m[1]) + 1) % 100):
        raise argparse.ArgumentTypeError(f"'{text}' is not a financial year; use YYYY/YY, e.g. 2020/21")
    first = int(m[1])
    if not MODEL_START.year <= first < LATEST_END.year:
        raise argparse.ArgumentTypeError(f"{text} is outside the model's span; allowed: "
                                         f"{MODEL_START.year}/{(MODEL_START.year + 1) % 100:02d} to "
                                         f"{LATEST_END.year - 1}/{LATEST_END.year % 100:02d}")
    return first


# ---- measuring ----------------------------------------------------------------------------------------------
def _gain_and_holders(scenario, march: dt.date, **pars) -> tuple[float, float]:
    """One run with `pars` changed: mean extra ASCOT gain a holder-year over the year, and holders in March."""
    from model.sim import Sim

    res = Sim(scenario.with_parameters(**pars) if pars else scenario).run()
    return overall_gain(res.extra["services_outcomes"]), res.holders_on(march)


def overall_gain(outcomes: pd.DataFrame) -> float:
    """The year's ASCOT gain summed over holders / holder-months (`cost_effectiveness`'s `ascot_gain`)."""
    return float(_ce(outcomes.assign(everyone="all"), "everyone").loc["all", "ascot_gain"])


def _ce(outcomes: pd.DataFrame, by: str) -> pd.DataFrame:
    """`cost_per_outcome` of one run, groups with holders only."""
    from model.contrast import cost_per_outcome

    ce = cost_per_outcome(outcomes.assign(run=0), by=by)
    order = [k for k in (*COHORTS, *HOLD_TYPES, "all") if k in ce.index]  # the register's order
    return ce.loc[order][ce.loc[order, "holders"] > 0]


def measure(scenario) -> dict:
    """Every figure of the table for `scenario` (its `until` ends the financial year measured), from nine runs:
    the run and its no-PHB twin, four for restrictiveness, two for budgets, one without fewer admissions."""
    from model.contrast import per_run
    from model.service_tables import COMPARED
    from model.sim import Sim

    march = scenario.until.replace(day=1)
    res = Sim(scenario).run(counterfactual=True)  # the run and its no-PHB twin, same random numbers
    out, nat = res.extra["services_outcomes"], res.extra["services_national"]
    cf = nat[["month"]].assign(**{k: nat[f"{k}_cf"] for k in COMPARED})  # the twin's own columns
    with_phbs, no_phbs = per_run(nat.assign(run=0)).iloc[0], per_run(cf.assign(run=0)).iloc[0]
    cohort, held = _ce(out, "cohort"), _ce(out, "held_as")
    year = nat.tail(12)
    paid = max(year["phb_payments_gbp"].sum(), 1.0)
    p = scenario.parameters
    f = {
        "gain": overall_gain(out), "gain_cohort": cohort["ascot_gain"], "gain_held": held["ascot_gain"],
        "restrict": {r: _gain_and_holders(scenario, march, restrictiveness_mean=r) for r in RESTRICTIVENESS},
        "restrict_no_loss": {r: _gain_and_holders(scenario, march, restrictiveness_mean=r, restriction_match_loss=0.0)
                             for r in RESTRICTIVENESS},
        "budgets": {x: (overall_gain(out), res.holders_on(march)) if x == 1.0 else _gain_and_holders(
            scenario, march, **{f"budget_median_{c}": round(getattr(p, f"budget_median_{c}") * x) for c in COHORTS})
            for x in BUDGET_FACTORS},
        "net": with_phbs - no_phbs, "no_phbs": no_phbs,  # phb contrast's measures, £m / thousand a year
        "beds_cohort": cohort["inpatient_saved_per_holder_year"], "beds_held": held["inpatient_saved_per_holder_year"],
        "net_cohort": cohort["net_cost_per_holder_year"], "per_point": cohort["gbp_per_ascot_point"],
        "before_reclaimed": cohort["net_cost_per_holder_year"] - cohort["net_reclaimed"],
        "reclaimed_cohort": cohort["net_reclaimed"],
        **{f"{k}_share": year[f"phb_{k}_gbp" if k != "non_evidence" else "non_evidence_gbp"].sum() / paid
           for k in ("reclaimed", "outside", "non_evidence")},  # of budget money paid, as `phb run` says
        "no_fall": _ce(Sim(scenario.with_parameters(inpatient_reduction_per_match=0.0)).run()
                       .extra["services_outcomes"], "cohort")["net_cost_per_holder_year"],
        "march": march, "holders": res.holders_on(march),
    }
    return f


# ---- judging: the checks of the tests named in each row ----------------------------------------------------
def checks(f: dict) -> dict[str, bool]:
    """The checks of the tests named in the table, on the figures `f` (`measure`): whether each finding's
    direction holds (the keys of `FINDINGS`) and what the rows add (groups differ; the mechanism)."""
    (lax_g, lax_h), (tight_g, tight_h) = (f["restrict"][r] for r in RESTRICTIVENESS)
    (free_lax_g, free_lax_h), (free_tight_g, free_tight_h) = (f["restrict_no_loss"][r] for r in RESTRICTIVENESS)
    gains, takers = zip(*(f["budgets"][x] for x in BUDGET_FACTORS))
    net, planned = f["net"], f["before_reclaimed"].drop("wheelchair", errors="ignore")
    ok = {
        "gain": abs(f["gain"] - EVALUATION_GAIN) <= GAIN_TOLERANCE and bool((f["gain_cohort"] > 0).all()),
        "groups_differ": f["gain_cohort"].max() > f["gain_cohort"].min(),
        "restrictive": tight_g < lax_g and tight_h < lax_h,
        "rule_only": free_lax_h == free_tight_h and abs(free_lax_g - free_tight_g) <= 1e-12 * abs(free_lax_g),
        "budgets": _rising(gains) and _rising(takers),
        "indirect": net["bed_days"] < 0 and net["net_inpatient"] < 0,
        "beds_by_group": f["beds_held"].get("direct_payment", 0) > f["beds_held"].get("notional", 0)
        and f["beds_cohort"].max() > f["beds_cohort"].min(),
        "most_beds": set(f["beds_cohort"].nlargest(2).index) == set(EFFECTIVE),
        "no_net_cost": bool((f["net_cohort"].reindex(EFFECTIVE) <= 0).all()),
        "before_reclaimed": set(planned.nsmallest(2).index) == set(EFFECTIVE)
        and bool((planned.reindex(EFFECTIVE) <= 0).all()),
        "fall_matters": bool((f["no_fall"].reindex(EFFECTIVE) > f["net_cohort"].reindex(EFFECTIVE)).all()),
        "neutral": abs(net["spend"]) < NEUTRAL_SHARE * f["no_phbs"]["spend"] and net["net_inpatient"] < 0
        and net["net_budgets"] > 0,
    }
    ok["effective"] = ok["most_beds"] and ok["no_net_cost"] and ok["before_reclaimed"]
    return ok


FINDINGS = ("gain", "restrictive", "budgets", "indirect", "effective", "neutral")  # one a row, in order


def _rising(xs) -> bool:
    return all(a < b for a, b in zip(xs, xs[1:]))


# ---- the table ------------------------------------------------------------------------------------------------
def gbp(x: float, dp: int = 0) -> str:
    """£ with the sign in front, as the docs write it: −£3,768, +£103."""
    return "n/a" if pd.isna(x) else f"{'−' if x < 0 else '+'}£{abs(x):,.{dp}f}"


def pts(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:+.3f}".replace("-", "−")


def num(x: float, dp: int = 0) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{x:,.{dp}f}".replace("-", "−")


def pounds(x: float) -> str:
    return "n/a" if pd.isna(x) else f"£{x:,.0f}"


def share(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:+.1%}".replace("-", "−")


def _by(s: pd.Series, fmt) -> str:
    return ", ".join(f"{NAMES.get(k, k)} {fmt(v)}" for k, v in s.items())


def rows(f: dict) -> list[tuple[str, str, str, str]]:
    """(finding, model figure, reproduced?, test) for each row of the table."""
    ok = checks(f)
    yes = {True: "yes", False: "no"}
    net, base = f["net"], f["no_phbs"]
    (lax_g, lax_h), (tight_g, tight_h) = (f["restrict"][r] for r in RESTRICTIVENESS)
    (free_lax_g, free_lax_h), (free_tight_g, free_tight_h) = (f["restrict_no_loss"][r] for r in RESTRICTIVENESS)
    b = [f["budgets"][x] for x in BUDGET_FACTORS]
    others = f["before_reclaimed"].drop(["wheelchair", *EFFECTIVE], errors="ignore")
    costly = f["per_point"][f["net_cohort"] > 0]
    chc_saving, reclaimed_chc = -f["net_cohort"].get("chc", 0.0), -f["reclaimed_cohort"].get("chc", 0.0)
    parts = [("budgets paid out less reclaimed", "net_budgets"), ("support", "net_support"),
             ("double running", "net_double_running"), ("inpatient care", "net_inpatient"),
             ("other services", "net_other_services")]
    march = f"{f['march']:%b %Y}"
    return [
        ("ASCOT +0.057 with a PHB vs +0.018 without (extra +0.039)",
         f"mean extra gain {pts(f['gain'])} a holder-year (calibrated); by cohort {_by(f['gain_cohort'], pts)}; "
         f"by way held: {_by(f['gain_held'], pts)}",
         f"{yes[ok['gain']]}: size {'within' if ok['gain'] else 'not within'} ±{GAIN_TOLERANCE} of {pts(EVALUATION_GAIN)} "
         "(calibrated), "
         f"{'every' if (f['gain_cohort'] > 0).all() else '**not** every'} group gains"
         + ("; the groups differ (emerges)" if ok["groups_differ"] else "; the groups do **not** differ"),
         "`test_gain_differs_by_group_and_cost_effectiveness_is_reported`"),
        ("Restrictive sites worse",
         f"CCGs' mean restrictiveness {RESTRICTIVENESS[0]} → {RESTRICTIVENESS[1]}: gain {pts(lax_g)} → "
         f"{pts(tight_g)}, "
         f"holders in {march} {num(lax_h)} → {num(tight_h)}. With the rule's `restriction_match_loss` at 0: gain "
         f"{pts(free_lax_g)} → {pts(free_tight_g)}, holders {num(free_lax_h)} → {num(free_tight_h)}",
         yes[ok["restrictive"]] + ("; through the matching rule alone (no change without its term)"
                                   if ok["rule_only"] else "; **not** through the matching rule alone (changes "
                                   "without its term)"),
         "`test_take_up.py`: `test_restrictions_lower_take_up_and_gain`, "
         "`test_without_the_rules_restriction_term_restrictions_change_nothing`, "
         "`test_with_no_restrictions_the_rules_still_work`"),
        ("Larger budgets, bigger gains",
         f"all budgets ×0.5 / ×1 / ×2: gain {' / '.join(pts(g) for g, _ in b)} and holders in {march} "
         f"{' / '.join(num(h) for _, h in b)}", yes[ok["budgets"]],
         "`test_larger_budgets_give_larger_gains`, `test_with_no_restrictions_the_rules_still_work`"),
        ("Lower indirect costs (inpatient care fell)",
         f"{num(round(net['bed_days'] * 1e3, -2))} bed-days a year ({share(net['bed_days'] / base['bed_days'])} of "
         f"{base['bed_days'] / 1e3:.2f}m); inpatient contracts {gbp(net['net_inpatient'], 1)}m a year; avoided beds "
         f"£ a holder-year by cohort: {_by(f['beds_cohort'], pounds)}; by way held: "
         f"{_by(f['beds_held'], pounds)}",
         yes[ok["indirect"]] + (", and it differs by group and way held" if ok["beds_by_group"] else ""),
         "`test_inpatient_use_falls_more_where_support_is_better_matched`, "
         "`test_no_overall_cost_difference_with_lower_indirect_costs`"),
        ("CHC and mental health the cost-effective groups",
         f"net cost a holder-year (budget − own package − reclaimed + support − beds): "
         f"{_by(f['net_cohort'], gbp)}" + (f" ({_by(costly, pounds)} per ASCOT point)"
                                           if len(costly) else "")
         + f". Before money reclaimed unspent: {_by(f['before_reclaimed'], gbp)}. With "
         f"`inpatient_reduction_per_match` = 0: {_by(f['no_fall'].reindex(EFFECTIVE), gbp)}",
         f"{yes[ok['effective']]}: " + ("" if ok["most_beds"] else "**not** ") + "the two groups saving most beds a "
         "holder; " + ("" if ok["no_net_cost"] else "**not** ") + "at no net cost; "
         + ("" if ok["before_reclaimed"] else "**not** ") + "the only planned groups at no net cost before money "
         f"reclaimed unspent (others: {_by(others, gbp)}); "
         + ("without fewer admissions they cost more" if ok["fall_matters"] else "**not** through fewer admissions")
         + (f". Caveat: {'most' if reclaimed_chc > chc_saving / 2 else 'part'} of CHC's saving is budget money "
            f"holders could not spend, reclaimed (£{reclaimed_chc:,.0f} of £{chc_saving:,.0f} a holder-year; "
            f"{f['reclaimed_share']:.0%} of all budget money paid out): a supply shortage, not a benefit"
            if chc_saving > 0 else ""),
         "`test_chc_and_mental_health_are_the_cost_effective_groups`, "
         "`test_without_fewer_admissions_chc_and_mental_health_lose_their_advantage`"),
        ("No overall cost difference",
         f"net cost to the NHS {gbp(net['spend'], 1)}m a year ({share(net['spend'] / base['spend'])} of "
         f"£{base['spend'] / 1e3:,.2f}bn) = " + " + ".join(f"{label} {gbp(net[k], 1)}m" for label, k in parts)
         + f" (£{net['decommissioned']:,.1f}m a year of contracts decommissioned)",
         f"{yes[ok['neutral']]}: within {NEUTRAL_SHARE:.0%} of spend; direct costs "
         f"{'higher' if net['net_budgets'] > 0 else 'not higher'}, inpatient "
         f"{'lower' if net['net_inpatient'] < 0 else 'not lower'}"
         + ("; part of the \"saving\" is decommissioning" if net["decommissioned"] > 0 else ""),
         "`test_no_overall_cost_difference_with_lower_indirect_costs`"),
    ]


def table_lines(f: dict) -> list[str]:
    lines = ["| Evaluation finding | Model figure | Reproduced? | Test |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(r)} |" for r in rows(f)]
    return lines


NOTE = ("Figures over the financial year's 12 months, one run each (paired intervals: `phb contrast`). Gain: ASCOT "
        "gain a year against no budget summed over holders / holder-months (`cost_effectiveness`), also in the "
        "sweeps. Holders: people holding a budget in the year's last month (`national`). Bed-days, inpatient "
        "contracts, the net cost and its split: this run less its no-PHB twin, as `phb contrast` measures them "
        "(`per_run`); decommissioned: the recurring value at the year's end. Per holder-year figures: "
        "`cost_per_outcome`; \"before money reclaimed\" adds the reclaimed part back. Reproduced? is worked out "
        "from the figures by the named tests' checks.")


# ---- command line ---------------------------------------------------------------------------------------------
def add_commands(sub) -> None:
    from model.arguments import _nonneg_int, _positive_int

    p = sub.add_parser("findings", help="the pilot evaluation's findings measured from the model, as the "
                                         "Markdown table of docs/validation.md (nine short runs)")
    p.add_argument("--scale", type=_positive_int, default=20, help="people per patient agent (default 20)")
    p.add_argument("--seed", type=_nonneg_int, help="random seed (default: the scenario's)")
    p.add_argument("--year", type=year_flag, default=2020, metavar="YYYY/YY",
                   help="financial year measured (default 2020/21)")
    p.set_defaults(handler=cmd_findings)


def cmd_findings(args: argparse.Namespace) -> int:
    from model.arguments import scenario_from_args

    until = dt.date(args.year + 1, 3, 31)
    s = scenario_from_args(argparse.Namespace(scenario="baseline", seed=args.seed, until=until, scale=args.scale))
    f = measure(s)
    print(f"Evaluation findings: {s.name}, national, 1:{s.agent_scale}, seed {s.seed}, financial year "
          f"{args.year}/{(args.year + 1) % 100:02d}, against the same run with no PHBs.\n")
    print("\n".join(table_lines(f)))
    print(f"\nThe critics' trade-off, side by side (same run): {f['outside_share']:.0%} of budget money is spent "
          f"outside the NHS, {f['non_evidence_share']:.1%} on items a critic would call non-evidence-based (shares "
          f"of the money paid out, as `phb run` reports them), against an ASCOT gain of {pts(f['gain'])} a "
          "holder-year.")
    print(f"\n{NOTE}")
    return 0
