"""Exports: a self-contained HTML report, PNG images of charts (kaleido + Debian's chromium) and a
PowerPoint deck of the headline charts. Pure functions: figures and a scenario in, bytes out."""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import shutil

import pandas as pd
import plotly.graph_objects as go

from model import __version__
from model import parameters as reg
from model.scenario import Scenario

CHROMIUM = "/usr/bin/chromium"


class ExportError(RuntimeError):
    """An export could not be made; the message says why in plain words."""


def _register_table() -> str:
    df = pd.DataFrame(reg.as_records())[["label", "group", "default", "low", "high", "unit", "source"]]
    df.columns = ["Parameter", "Group", "Default", "Low", "High", "Unit", "Source"]
    return df.to_html(index=False, border=0, classes="register", escape=True)


def html_report(scenario: Scenario, figures: list[tuple[str, go.Figure]], intro: str = "") -> str:
    """One HTML file: charts interactive with plotly.js inlined (opens offline), the scenario file and
    every assumption."""
    from dashboard.state import differences_from_baseline

    parts = []
    for i, (title, fig) in enumerate(figures):
        parts.append(f"<section><h2>{html.escape(title)}</h2>"
                     + fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
                     + "</section>")
    diffs = pd.DataFrame(differences_from_baseline(scenario))
    diff_html = diffs.to_html(index=False, border=0) if len(diffs) else "<p>Same as the baseline.</p>"
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>PHB roll-out: {html.escape(scenario.name)}</title>
<style>body{{font-family:Arial,sans-serif;color:#212B32;max-width:1100px;margin:2em auto;padding:0 1em}}
h1,h2{{color:#003087}} table{{border-collapse:collapse;font-size:13px}} td,th{{border-bottom:1px solid #E8EDEE;
padding:4px 8px;text-align:left;vertical-align:top}} pre{{background:#F0F4F5;padding:1em;overflow:auto}}</style>
</head><body>
<h1>Personal health budgets: scenario {html.escape(scenario.name)}</h1>
<p>Made {now} with phb-rollout {__version__}. {html.escape(" ".join(scenario.description.split()))}</p>
{intro}
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
        return fig.to_image(format="png", width=width, height=height, scale=scale)
    except Exception as e:  # kaleido's failures come in many types; the user needs one message
        raise ExportError(f"PNG export failed: kaleido could not run Chromium ({type(e).__name__}: {e})") from None


def pptx_deck(scenario: Scenario, figures: list[tuple[str, go.Figure]]) -> bytes:
    """A PowerPoint deck: a title slide, then one headline chart per slide."""
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Personal health budgets: national roll-out"
    slide.placeholders[1].text = f"Scenario {scenario.name}: {' '.join(scenario.description.split())[:200]}"
    for title, fig in figures:
        image = png(fig, width=1600, height=800)
        s = deck.slides.add_slide(deck.slide_layouts[5])
        s.shapes.title.text = title
        s.shapes.title.text_frame.paragraphs[0].font.size = Pt(28)
        s.shapes.add_picture(io.BytesIO(image), Inches(0.4), Inches(1.4), width=Inches(12.5))
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()
