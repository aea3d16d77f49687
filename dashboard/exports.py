"""Exports: a self-contained HTML report, PNG images of charts (kaleido + Debian's chromium) and a 16:9
PowerPoint deck. Each describes exactly the scenario on screen: its name, every value changed from the
preset (and from the baseline), how many runs, what varied, the model's vintage and its calibration."""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import shutil
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go

from dashboard import pictures
from model import __version__
from model import parameters as reg
from model.scenario import Scenario

CHROMIUM = "/usr/bin/chromium"
SLIDE_W_IN, SLIDE_H_IN = 13.333, 7.5  # 16:9


class ExportError(RuntimeError):
    """An export could not be made; the message says why in plain words."""


def edits(scenario: Scenario, preset: Scenario | None) -> list[str]:
    """Plain lines naming every value that differs from the preset, with the preset's value beside it."""
    if preset is None:
        return []
    from dashboard.state import to_text

    out = []
    mine, theirs = scenario.parameters.model_dump(), preset.parameters.model_dump()
    for name, value in mine.items():
        if value != theirs[name]:
            p = reg.BY_NAME[name]
            out.append(f"{p.label}: {to_text(value)} {p.unit} (preset {to_text(theirs[name])})")
    if scenario.until != preset.until:
        out.append(f"End date: {scenario.until:%Y-%m-%d} (preset {preset.until:%Y-%m-%d})")
    if scenario.seed != preset.seed:
        out.append(f"Seed: {scenario.seed} (preset {preset.seed})")
    return out


def describe(scenario: Scenario, preset: Scenario | None) -> str:
    """One paragraph: the preset's own words only when nothing was changed, else the changes."""
    changed = edits(scenario, preset)
    if not changed:
        return " ".join(scenario.description.split())
    return f"Preset '{preset.name}' with {len(changed)} change(s): " + "; ".join(changed) + "."


def method(scenario: Scenario, view: dict) -> list[str]:
    """How the numbers were made: runs, what varied, vintage, calibration."""
    from dashboard import text
    from model import ensemble as ens

    modes = text.labels()["modes"]
    varied = ""
    if view["mode"] in ("both", "parameters"):
        names = list(ens.uncertain_parameters(scenario))
        varied = (f" Assumptions drawn from their 80% ranges ({len(names)}): "
                  + ", ".join(reg.BY_NAME[n].label for n in names[:12]) + ("…" if len(names) > 12 else "") + ".")
    pts = text.calibration_points()
    size = sizes(scenario, view)
    return [
        f"Runs: {size['fan'][0]} per ensemble for uptake and the chances, one agent per {size['fan'][1]} people; "
        f"services {size['services'][0]} paired runs (one agent per {size['services'][1]}), the comparison "
        f"{size['compare'][0]} runs per scenario, the CCG view one run at one agent per {size['ccg'][1]} people. "
        "Each chart's title gives its own; one marked 'export size' was made for the export because its page "
        "was not opened.",
        f"What varied between runs: {modes[view['mode']].lower()}.{varied}",
        f"Seed {scenario.seed}; months April 2014 to {scenario.until:%B %Y}; random numbers from a "
        "SeedSequence tree, so every run can be re-run alone.",
        f"Vintage: phb-rollout {__version__}; published figures to {pts['period_end'].max():%B %Y}; "
        f"made {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "Calibration: the baseline is calibrated to the published counts of people holding a PHB "
        f"({', '.join(f'{v:,.0f} in {m:%b %Y}' for v, m in zip(pts[pts['measure'] == 'phbs_held']['value'], pts[pts['measure'] == 'phbs_held']['month']))}) "
        "and new PHBs in the year; see docs/ODD.md.",
    ]


def sizes(scenario: Scenario, view: dict) -> dict[str, tuple[int, int, bool]]:
    """Runs and people per agent behind each exported chart: (runs, scale, as_on_screen). A chart whose
    page already drew it in this server is reused as it is; one whose page was not opened is made at the
    export size (model_calls.EXPORT_*), so a deck takes seconds, and its title says which."""
    from dashboard import model_calls as mc
    from dashboard.service_calls import SERVICE_RUNS, SERVICE_SCALE
    from dashboard import text

    targets = tuple(v for v, _ in text.targets())
    runs, scale, mode, yaml_text = int(view["runs"]), int(view["scale"]), view["mode"], scenario.to_yaml()

    def pick(on_screen_runs: int, on_screen_scale: int, cached: bool, floor_scale: int = mc.EXPORT_SCALE):
        small = on_screen_runs <= mc.EXPORT_RUNS and on_screen_scale >= floor_scale
        if cached or small:
            return on_screen_runs, on_screen_scale, True
        return min(on_screen_runs, mc.EXPORT_RUNS), max(on_screen_scale, floor_scale), False

    svc_runs, svc_scale = min(runs, SERVICE_RUNS), max(scale, SERVICE_SCALE)
    cmp_runs = min(runs, mc.COMPARE_RUNS)
    base = _baseline_like(scenario)
    ccg = int(view["ccg_scale"])
    return {
        "fan": pick(runs, scale, mc.memoised("fan", yaml_text, runs, scale, targets, mode)),
        "services": pick(svc_runs, svc_scale, mc.memoised("services", yaml_text, svc_runs, svc_scale)),
        "compare": pick(cmp_runs, scale, mc.memoised("compare", (base.to_yaml(), yaml_text), cmp_runs, scale,
                                                     scenario.until, mode)),
        "ccg": (1, ccg, True) if (ccg >= mc.EXPORT_CCG_SCALE or mc.single_run_done(
            scenario.with_(agent_scale=ccg).to_yaml())) else (1, mc.EXPORT_CCG_SCALE, False),
    }


def _baseline_like(scenario: Scenario) -> Scenario:
    from dashboard.state import preset_scenario

    return preset_scenario("baseline").with_(until=scenario.until)


def _size_note(size: tuple[int, int, bool]) -> str:
    runs, scale, same = size
    what = f"{runs} run{'s' if runs != 1 else ''}, one agent per {scale} people"
    return what if same else what + "; export size, its page was not opened"


def slides(scenario: Scenario, view: dict) -> list[tuple[str, Callable[[], go.Figure]]]:
    """Every page's headline chart for this scenario and view, each built only when asked for (the deck,
    the report and presentation mode show the same ones), each title naming its runs. No Streamlit calls:
    download buttons run this after the page script."""
    import importlib.util

    from dashboard import charts, model_calls, service_calls, text

    targets = tuple(v for v, _ in text.targets())
    name, mode = scenario.name, view["mode"]
    size = sizes(scenario, view)

    def fan_data() -> dict:
        runs, scale, _ = size["fan"]
        return model_calls.fan(scenario.to_yaml(), runs, scale, targets, mode)

    def fan() -> go.Figure:
        pts = text.calibration_points()
        return charts.fan_chart(fan_data()["bands"]["holders"], f"People holding a PHB, {name} "
                                f"({_size_note(size['fan'])})", "People", targets=text.targets(),
                                points=pts[pts["measure"] == "phbs_held"])

    def chances() -> go.Figure:
        return charts.probability_chart(fan_data()["prob"], dict(text.targets()),
                                        f"Chance of reaching each target by each month, {name} (%; "
                                        f"{_size_note(size['fan'])})")

    def services() -> go.Figure:
        runs, scale, _ = size["services"]
        return charts.difference_chart(service_calls.service_headline(scenario, {**view, "runs": runs, "scale": scale}),
                                       f"Net cost to the NHS: difference from no PHBs, {name} (£m a year; "
                                       f"{_size_note(size['services'])})", "£m a year")

    def ccg() -> go.Figure:
        res = model_calls.single_run(scenario.with_(agent_scale=size["ccg"][1]).to_yaml())
        last = res.by_ccg[res.by_ccg["month"] == res.by_ccg["month"].max()]
        return charts.funnel_chart(last, f"PHBs per 100,000 by CCG, {pd.Timestamp(last['month'].iloc[0]):%B %Y}, "
                                         f"{name} ({_size_note(size['ccg'])})")

    base = _baseline_like(scenario)

    def compared() -> go.Figure:
        runs, scale, _ = size["compare"]
        cmp = model_calls.comparison((base.to_yaml(), scenario.to_yaml()), runs, scale, scenario.until, mode)
        return charts.compare_over_time(cmp["bands"], "holders", f"People holding a PHB: baseline and {name} "
                                        f"(median, 80% of runs; {_size_note(size['compare'])})", "People")

    out = [("People holding a PHB", fan), ("Chance of reaching each target", chances)]
    if importlib.util.find_spec("model.services") is not None:
        out.append(("Traditional services: net cost", services))
    out.append(("CCG variation", ccg))
    if scenario.name != "baseline" and scenario.to_yaml() != base.to_yaml():
        out.append(("Compared with the baseline", compared))
    return out


def figures_for(scenario: Scenario, view: dict) -> list[tuple[str, go.Figure]]:
    """Every slide's chart, built."""
    return [(title, build()) for title, build in slides(scenario, view)]


def _register_table() -> str:
    df = pd.DataFrame(reg.as_records())[["label", "group", "default", "low", "high", "unit", "source"]]
    df.columns = ["Parameter", "Group", "Default", "Low", "High", "Unit", "Source"]
    return df.to_html(index=False, border=0, classes="register", escape=True)


def html_report(scenario: Scenario, figures: list[tuple[str, go.Figure]], intro: str = "",
                method: list[str] = (), preset: Scenario | None = None) -> str:
    """One HTML file: charts interactive with plotly.js inlined (opens offline), what was changed, how
    the numbers were made, the scenario file and every assumption."""
    from dashboard.state import differences_from_baseline

    parts = []
    for i, (title, fig) in enumerate(figures):
        parts.append(f"<section><h2>{html.escape(title)}</h2>"
                     + fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
                     + "</section>")
    diffs = pd.DataFrame(differences_from_baseline(scenario))
    diff_html = diffs.to_html(index=False, border=0) if len(diffs) else "<p>Same as the baseline.</p>"
    changed = edits(scenario, preset)
    changed_html = ("<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in changed) + "</ul>") if changed else ""
    method_html = "<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in method) + "</ul>" if method else ""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>PHB roll-out: {html.escape(scenario.name)}</title>
<style>body{{font-family:Arial,sans-serif;color:#212B32;max-width:1100px;margin:2em auto;padding:0 1em}}
h1,h2{{color:#003087}} table{{border-collapse:collapse;font-size:13px}} td,th{{border-bottom:1px solid #E8EDEE;
padding:4px 8px;text-align:left;vertical-align:top}} pre{{background:#F0F4F5;padding:1em;overflow:auto}}</style>
</head><body>
<h1>Personal health budgets: scenario {html.escape(scenario.name)}</h1>
<p>Made {now} with phb-rollout {__version__}. {html.escape(describe(scenario, preset))}</p>
{changed_html}
{intro}
<h2>Method</h2>{method_html}
{''.join(parts)}
<h2>What differs from the baseline</h2>{diff_html}
<h2>Scenario file</h2><p>Save as a .yaml file and run it with <code>phb run</code>.</p>
<pre id="scenario-yaml">{html.escape(scenario.to_yaml())}</pre>
<h2>Assumptions (the parameter register)</h2>{_register_table()}
</body></html>"""


def _kaleido_ready() -> None:
    if not os.environ.get("BROWSER_PATH"):
        if shutil.which("chromium") or os.path.exists(CHROMIUM):
            os.environ["BROWSER_PATH"] = shutil.which("chromium") or CHROMIUM
        else:
            raise ExportError("PNG export needs a Chromium browser for kaleido; /usr/bin/chromium is not "
                              "installed on this machine (apt-get install chromium).")


def png(fig: go.Figure, width: int = 1200, height: int = 650, scale: float = 1.0) -> bytes:
    """The chart as a PNG image (kaleido, using Debian's chromium)."""
    _kaleido_ready()
    try:
        return pictures.png_bytes(fig, width, height, scale)
    except Exception as e:  # kaleido's failures come in many types; the user needs one message
        raise ExportError(f"PNG export failed: kaleido could not run Chromium ({type(e).__name__}: {e})") from None


def _text_slide(deck, title: str, lines: list[str], size: int = 18):
    from pptx.util import Inches, Pt

    s = deck.slides.add_slide(deck.slide_layouts[6])  # blank: our own boxes, laid out for 16:9
    _title(s, title)
    box = s.shapes.add_textbox(Inches(0.6), Inches(1.3), Inches(SLIDE_W_IN - 1.2), Inches(SLIDE_H_IN - 1.8))
    tf = box.text_frame
    tf.word_wrap = True
    for i, line in enumerate(lines or ["(none)"]):
        para = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        para.text = line
        para.font.size = Pt(size)
    return s


def _title(slide, title: str) -> None:
    from pptx.util import Inches, Pt

    box = slide.shapes.add_textbox(Inches(0.6), Inches(0.3), Inches(SLIDE_W_IN - 1.2), Inches(0.9))
    box.text_frame.word_wrap = True
    box.text_frame.text = title
    box.text_frame.paragraphs[0].font.size = Pt(30)
    box.text_frame.paragraphs[0].font.bold = True


def pptx_deck(scenario: Scenario, figures: list[tuple[str, go.Figure]], method: list[str] = (),
              preset: Scenario | None = None) -> bytes:
    """A 16:9 deck: title (naming the changes), every page's headline chart fitted inside its slide, a
    slide of assumptions (what was changed, against the preset and the baseline) and one of method."""
    from pptx import Presentation
    from pptx.util import Inches

    from dashboard.state import differences_from_baseline

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(SLIDE_W_IN), Inches(SLIDE_H_IN)
    _text_slide(deck, f"Personal health budgets: scenario {scenario.name}",
                [describe(scenario, preset), f"Made {dt.date.today():%d %B %Y} with phb-rollout {__version__}."],
                size=20)
    left, top = 0.4, 1.25
    box_w, box_h = SLIDE_W_IN - 2 * left, SLIDE_H_IN - top - 0.25
    for title, fig in figures:
        px_w, px_h = 1600, int(1600 * box_h / box_w)  # the picture has the box's shape: it fits exactly
        image = png(fig.update_layout(height=None), width=px_w, height=px_h)
        s = deck.slides.add_slide(deck.slide_layouts[6])
        _title(s, title)
        s.shapes.add_picture(io.BytesIO(image), Inches(left), Inches(top), width=Inches(box_w), height=Inches(box_h))
    base_rows = [f"{r['Lever']}: {r['This scenario']} {r['Unit']} (baseline {r['Baseline']})"
                 for r in differences_from_baseline(scenario)]
    _text_slide(deck, "Assumptions", (["Changed on screen from the preset:"] + edits(scenario, preset)
                                      if edits(scenario, preset) else ["No changes from the preset."])
                + ["Different from the baseline:"] + (base_rows or ["nothing"])
                + ["Every other assumption is the register's default (docs/parameters.md)."], size=14)
    _text_slide(deck, "Method", list(method), size=16)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()
