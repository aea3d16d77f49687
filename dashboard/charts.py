"""Charts: pure functions from tables to Plotly figures, in NHS identity colours. No Streamlit here.

Colours: NHS Blue for the central line, Dark Blue / Light Blue tints for bands, and a categorical set
ordered so that neighbouring series differ in lightness as well as hue (safe for the common forms of
colour blindness).
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

NHS_BLUE, NHS_DARK_BLUE, NHS_BRIGHT_BLUE, NHS_LIGHT_BLUE = "#005EB8", "#003087", "#0072CE", "#41B6E6"
NHS_AQUA_GREEN, NHS_WARM_YELLOW, NHS_ORANGE, NHS_DARK_PINK = "#00A499", "#FFB81C", "#ED8B00", "#7C2855"
NHS_PURPLE, NHS_DARK_GREY, NHS_MID_GREY, NHS_PALE_GREY = "#330072", "#425563", "#768692", "#E8EDEE"
CATEGORICAL = [NHS_BLUE, NHS_ORANGE, NHS_AQUA_GREEN, NHS_DARK_PINK, NHS_LIGHT_BLUE, NHS_WARM_YELLOW,
               NHS_PURPLE, NHS_DARK_GREY, NHS_MID_GREY]
BAND_FILLS = {95: "rgba(65,182,230,0.22)", 80: "rgba(0,114,206,0.25)", 50: "rgba(0,48,135,0.30)"}
BAND_COLS = {95: ("p2_5", "p97_5"), 80: ("p10", "p90"), 50: ("p25", "p75")}


def _figure(*traces) -> go.Figure:
    """A figure with the dashboard's template. Setting a template the usual way checks every one of its
    values again, about half the cost of building a chart; a registered template is valid already, so it is
    set as Plotly sets its own default template (checks off for that one assignment)."""
    fig = go.Figure(list(traces) or None)
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = pio.templates["plotly_white"]
    finally:
        layout._validate = fig._validate
    return fig


def _layout(fig: go.Figure, title: str, y_title: str, x_title: str = "Month", height: int = 460) -> go.Figure:
    """Titles, fonts, legend and axes for a figure made by `_figure` (which carries the template). The left
    margin fits the y axis's title and labels as these charts have them (Plotly's automargin measured 61–72 px):
    with 60, plotly.js found them too wide once drawn and laid the chart out again (the fan 27 → 16 ms a draw
    in Chromium, and Streamlit draws each chart twice a lever change). Longer labels still widen it."""
    fig.update_layout(
        title=dict(text=title, font=dict(size=18, color=NHS_DARK_BLUE)), height=height,
        font=dict(family="Arial, sans-serif", size=13, color="#212B32"),
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(l=80, r=20, t=60, b=40),
        hovermode="x unified", colorway=CATEGORICAL,
    )
    fig.update_yaxes(title_text=y_title, rangemode="tozero", separatethousands=True)
    fig.update_xaxes(title_text=x_title)
    return fig


def fan_chart(bands: pd.DataFrame, title: str, y_title: str, *, targets=(), points: pd.DataFrame | None = None,
              actual: pd.DataFrame | None = None, height: int = 460) -> go.Figure:
    """Median with 95/80/50% bands; targets as dashed lines; published points and actuals as markers."""
    fig = _figure()
    x = pd.to_datetime(bands["month"])
    for level in (95, 80, 50):
        lo, hi = BAND_COLS[level]
        fig.add_trace(go.Scatter(x=x, y=bands[hi], line=dict(width=0), showlegend=False, hoverinfo="skip",
                                 legendgroup=f"b{level}"))
        fig.add_trace(go.Scatter(x=x, y=bands[lo], fill="tonexty", fillcolor=BAND_FILLS[level],
                                 line=dict(width=0), name=f"{level}% of runs", legendgroup=f"b{level}",
                                 hovertemplate=f"{level}% band low %{{y:,.0f}}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=bands["median"], name="Median", line=dict(color=NHS_BLUE, width=3),
                             hovertemplate="median %{y:,.0f}<extra></extra>"))
    top = float(bands["p97_5"].max()) if len(bands) else 0.0
    for value, label in targets:
        if value <= top * 2.5:
            fig.add_hline(y=value, line=dict(color=NHS_DARK_GREY, dash="dash", width=1.5),
                          annotation_text=f"Target {label}", annotation_position="top left",
                          annotation_font=dict(size=11, color=NHS_DARK_GREY))
    if points is not None and len(points):
        fig.add_trace(go.Scatter(x=pd.to_datetime(points["month"]), y=points["value"], mode="markers",
                                 name="Published figure", marker=dict(color=NHS_ORANGE, size=11, symbol="diamond",
                                                                      line=dict(color="black", width=1)),
                                 text=points["source"], hovertemplate="%{y:,.0f} (%{text})<extra></extra>"))
    if actual is not None and len(actual):
        fig.add_trace(go.Scatter(x=pd.to_datetime(actual["month"]), y=actual["holders"], mode="lines+markers",
                                 name="Actual (uploaded)", line=dict(color=NHS_DARK_PINK, width=2),
                                 marker=dict(symbol="square", size=8)))
    return _layout(fig, title, y_title, height=height)


def probability_chart(prob: dict[int, pd.DataFrame], labels: dict[int, str], title: str,
                      height: int = 420) -> go.Figure:
    """S-curves: chance that the number holding a PHB has reached each target by each month."""
    fig = _figure()
    dashes = ["solid", "dash", "dot", "dashdot"]
    for i, (value, df) in enumerate(sorted(prob.items())):
        fig.add_trace(go.Scatter(x=pd.to_datetime(df["month"]), y=df["probability"] * 100,
                                 name=labels.get(value, f"{value:,}"), line=dict(color=CATEGORICAL[i], width=3,
                                                                                 dash=dashes[i % 4]),
                                 hovertemplate="%{y:.0f}%<extra></extra>"))
    fig = _layout(fig, title, "Chance reached (%)", height=height)
    fig.update_yaxes(range=[0, 100], rangemode="normal")
    return fig


def lines_chart(df: pd.DataFrame, y: str, group: str, names: dict[str, str], title: str, y_title: str,
                height: int = 420, stacked: bool = False, percent: bool = False) -> go.Figure:
    """One line (or stacked area) per group over the months."""
    fig = _figure()
    for i, (key, part) in enumerate(df.groupby(group, sort=False)):
        part = part.sort_values("month")
        fig.add_trace(go.Scatter(x=pd.to_datetime(part["month"]), y=part[y], name=names.get(key, str(key)),
                                 line=dict(color=CATEGORICAL[i % len(CATEGORICAL)], width=2.5),
                                 stackgroup="one" if stacked else None,
                                 hovertemplate=("%{y:.0%}" if percent else "%{y:,.0f}") + "<extra></extra>"))
    fig = _layout(fig, title, y_title, height=height)
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1], rangemode="normal")
    return fig


def ranked_ccg_chart(df: pd.DataFrame, title: str, height: int | None = None,
                     highlight: str | None = None) -> go.Figure:
    """CCGs ranked by PHBs per 100,000, coloured by region (horizontal bars); a chosen CCG outlined."""
    df = df.sort_values("holders_per_100k")
    fig = _figure()
    for i, (region, part) in enumerate(df.groupby("region")):
        fig.add_trace(go.Bar(y=part["name"], x=part["holders_per_100k"], orientation="h", name=region,
                             marker_color=CATEGORICAL[i % len(CATEGORICAL)],
                             marker_line=dict(color=["black" if n == highlight else "rgba(0,0,0,0)"
                                                     for n in part["name"]], width=2),
                             hovertemplate="%{y}: %{x:,.1f} per 100,000<extra></extra>"))
    fig = _layout(fig, title, "", x_title="PHBs per 100,000 population",
                  height=height or max(420, 14 * len(df) + 120))
    # the legend to the right of the bars, clear of the title
    fig.update_layout(barmode="overlay", hovermode="closest", margin=dict(l=60, r=20, t=60, b=40),
                      legend=dict(orientation="v", y=1.0, yanchor="top", x=1.01, xanchor="left",
                                  title=dict(text="NHS region")))
    fig.update_yaxes(categoryorder="array", categoryarray=list(df["name"]), tickfont=dict(size=9))
    return fig


def funnel_limits(population: np.ndarray, rate_per_100k: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Poisson control limits (normal approximation) of a rate per 100,000 around the national rate."""
    expected = rate_per_100k * population / 100_000
    half = z * np.sqrt(np.maximum(expected, 1e-9))
    lo = np.maximum(expected - half, 0) / population * 100_000
    hi = (expected + half) / population * 100_000
    return lo, hi


def funnel_chart(df: pd.DataFrame, title: str, height: int = 520) -> go.Figure:
    """Each CCG's rate against its population with 95% and 99.8% control limits."""
    df = df[df["population"] > 0]
    rate = df["holders"].sum() / df["population"].sum() * 100_000 if len(df) else 0.0
    pop = np.linspace(max(df["population"].min() * 0.9, 1), df["population"].max() * 1.05, 200) if len(df) \
        else np.array([1.0, 2.0])
    fig = _figure()
    for z, name, dash in ((1.96, "95% limits", "dash"), (3.09, "99.8% limits", "dot")):
        lo, hi = funnel_limits(pop, rate, z)
        for k, yv in enumerate((lo, hi)):
            fig.add_trace(go.Scatter(x=pop, y=yv, mode="lines", line=dict(color=NHS_DARK_GREY, dash=dash, width=1.5),
                                     name=name, showlegend=k == 0, legendgroup=name, hoverinfo="skip"))
    fig.add_hline(y=rate, line=dict(color=NHS_DARK_BLUE, width=2),
                  annotation_text=f"England {rate:,.1f} per 100,000", annotation_position="bottom right")
    for i, (region, part) in enumerate(df.groupby("region")):
        fig.add_trace(go.Scatter(x=part["population"], y=part["holders_per_100k"], mode="markers", name=region,
                                 marker=dict(color=CATEGORICAL[i % len(CATEGORICAL)], size=8,
                                             line=dict(color="white", width=0.5)),
                                 text=part["name"], hovertemplate="%{text}: %{y:,.1f} per 100,000, "
                                                                  "population %{x:,.0f}<extra></extra>"))
    fig = _layout(fig, title, "PHBs per 100,000 population", x_title="Population of the CCG (people)",
                  height=height)
    fig.update_layout(hovermode="closest")
    return fig


def difference_chart(df: pd.DataFrame, title: str, y_title: str, height: int = 400) -> go.Figure:
    """A difference from a counterfactual over time: median line with its interval (columns month,
    median, low, high)."""
    fig = _figure()
    x = pd.to_datetime(df["month"])
    fig.add_trace(go.Scatter(x=x, y=df["high"], line=dict(width=0), showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=df["low"], fill="tonexty", fillcolor=BAND_FILLS[80], line=dict(width=0),
                             name="Interval"))
    fig.add_trace(go.Scatter(x=x, y=df["median"], name="Difference", line=dict(color=NHS_BLUE, width=3)))
    fig.add_hline(y=0, line=dict(color=NHS_DARK_GREY, width=1))
    fig = _layout(fig, title, y_title, height=height)
    fig.update_yaxes(rangemode="normal")
    return fig


def difference_grid(panels: list[tuple[pd.DataFrame, str]], title: str, columns: int = 3,
                    panel_height: int = 250) -> go.Figure:
    """Small multiples: one panel per measure, each a difference from a counterfactual over time (median
    line and interval, as `difference_chart`; `panels` holds (table, panel title with its unit)). One
    figure, not one each: a browser draws a dozen panels of one figure in a fraction of a dozen figures'
    time. The axes are laid out here rather than by `make_subplots`, which took 0.3 s for a dozen panels."""
    rows = max(1, math.ceil(len(panels) / columns))
    height = 90 + rows * panel_height
    gap_x, gap_y = 0.06, 85 / height  # room for each panel's title (two lines) under the x-axis above
    width, tall = (1 - gap_x * (columns - 1)) / columns, (1 - gap_y * (rows - 1)) / rows
    traces, layout, shapes, notes = [], {}, [], []
    for k, (df, name) in enumerate(panels):
        row, col = divmod(k, columns)
        n = "" if k == 0 else str(k + 1)
        x0, y1 = col * (width + gap_x), 1 - row * (tall + gap_y)
        layout[f"xaxis{n}"] = dict(domain=[max(0.0, x0), min(1.0, x0 + width)], anchor=f"y{n}",
                                   matches=None if k == 0 else "x")
        layout[f"yaxis{n}"] = dict(domain=[max(0.0, y1 - tall), min(1.0, y1)], anchor=f"x{n}",
                                   separatethousands=True)
        x = pd.to_datetime(df["month"])
        axes = dict(xaxis=f"x{n}", yaxis=f"y{n}")
        traces += [go.Scatter(x=x, y=df["high"], line=dict(width=0), showlegend=False, hoverinfo="skip", **axes),
                   go.Scatter(x=x, y=df["low"], fill="tonexty", fillcolor=BAND_FILLS[80], line=dict(width=0),
                              name="Interval (80% of paired runs)", legendgroup="i", showlegend=k == 0, **axes),
                   go.Scatter(x=x, y=df["median"], name="Difference (median)", legendgroup="m", showlegend=k == 0,
                              line=dict(color=NHS_BLUE, width=2), **axes)]
        shapes.append(dict(type="line", xref=f"x{n} domain", yref=f"y{n}", x0=0, x1=1, y0=0, y1=0,
                           line=dict(color=NHS_DARK_GREY, width=1)))
        notes.append(dict(text="<br>".join(textwrap.wrap(name, 44)), xref="paper", yref="paper", x=x0 + width / 2,
                          y=y1, xanchor="center",
                          yanchor="bottom", showarrow=False, font=dict(size=13, color=NHS_DARK_BLUE)))
    fig = _figure(*traces)
    fig.update_layout(
        **layout, shapes=shapes, annotations=notes, height=height,
        title=dict(text=title, font=dict(size=18, color=NHS_DARK_BLUE)),
        font=dict(family="Arial, sans-serif", size=12, color="#212B32"), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1 + 45 / height, x=0), margin=dict(l=50, r=20, t=125, b=30))
    return fig


def compare_chart(table: pd.DataFrame, title: str, y_title: str, height: int = 420) -> go.Figure:
    """Median with 80% interval per scenario (columns scenario, median, p10, p90)."""
    fig = _figure(go.Bar(
        x=table["scenario"], y=table["median"], marker_color=CATEGORICAL[:len(table)],
        error_y=dict(type="data", symmetric=False, array=table["p90"] - table["median"],
                     arrayminus=table["median"] - table["p10"], color=NHS_DARK_GREY),
        hovertemplate="%{x}: %{y:,.0f}<extra></extra>"))
    fig = _layout(fig, title, y_title, x_title="Scenario", height=height)
    fig.update_layout(hovermode="closest")
    return fig


def waterfall_chart(start: tuple[str, float], steps: list[tuple[str, float]], end: tuple[str, float],
                    title: str, y_title: str, height: int = 460) -> go.Figure:
    """From one scenario's total, through the contributions, to the other's. The axis spans the steps
    (not from zero), so a contribution of a few hundred on a total of 80,000 is visible."""
    names = [start[0]] + [s[0] for s in steps] + [end[0]]
    values = [start[1]] + [s[1] for s in steps] + [end[1]]
    measure = ["absolute"] + ["relative"] * len(steps) + ["total"]
    text = [f"{start[1]:,.0f}"] + [f"{v:+,.0f}" for _, v in steps] + [f"{end[1]:,.0f}"]
    fig = _figure(go.Waterfall(
        x=names, y=values, measure=measure, connector=dict(line=dict(color=NHS_MID_GREY)),
        increasing=dict(marker=dict(color=NHS_AQUA_GREEN)), decreasing=dict(marker=dict(color=NHS_ORANGE)),
        totals=dict(marker=dict(color=NHS_BLUE)), text=text, textposition="outside",
        hovertemplate="%{x}: %{text}<extra></extra>"))
    running = np.cumsum([start[1]] + [s[1] for s in steps])
    lo, hi = float(min(running.min(), end[1])), float(max(running.max(), end[1]))
    pad = max((hi - lo) * 0.35, abs(hi) * 0.01, 1.0)
    fig = _layout(fig, title, y_title, x_title="", height=height)
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_yaxes(range=[lo - pad, hi + pad], rangemode="normal")
    return fig


def compare_over_time(bands: dict[str, dict[str, pd.DataFrame]], measure: str, title: str, y_title: str,
                      height: int = 460) -> go.Figure:
    """One median line per scenario with its 80% band, over the months."""
    fig = _figure()
    for i, (name, by_measure) in enumerate(bands.items()):
        b = by_measure[measure]
        x = pd.to_datetime(b["month"])
        colour = CATEGORICAL[i % len(CATEGORICAL)]
        r, g, bl = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
        fig.add_trace(go.Scatter(x=x, y=b["p90"], line=dict(width=0), showlegend=False, hoverinfo="skip",
                                 legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=b["p10"], fill="tonexty", fillcolor=f"rgba({r},{g},{bl},0.18)",
                                 line=dict(width=0), showlegend=False, hoverinfo="skip", legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=b["median"], name=name, legendgroup=name,
                                 line=dict(color=colour, width=3, dash=["solid", "dash", "dot", "dashdot"][i % 4]),
                                 hovertemplate=f"{name}: %{{y:,.0f}}<extra></extra>"))
    return _layout(fig, title, y_title, height=height)


def region_small_multiples(by_ccg: pd.DataFrame, title: str, highlight: str | None = None,
                           height: int = 620) -> go.Figure:
    """One panel per NHS region: every CCG's PHBs per 100,000 over time (grey), the chosen one in blue."""
    from plotly.subplots import make_subplots

    regions = sorted(by_ccg["region"].dropna().unique())
    ncol = 4 if len(regions) > 6 else 3
    nrow = max(1, math.ceil(len(regions) / ncol))
    fig = make_subplots(rows=nrow, cols=ncol, subplot_titles=regions, shared_yaxes=True,
                        horizontal_spacing=0.03, vertical_spacing=0.12)
    for k, region in enumerate(regions):
        part = by_ccg[by_ccg["region"] == region]
        r, c = k // ncol + 1, k % ncol + 1
        for code, one in part.groupby("code", sort=False):
            chosen = highlight is not None and one["name"].iloc[0] == highlight
            fig.add_trace(go.Scatter(x=pd.to_datetime(one["month"]), y=one["holders_per_100k"], mode="lines",
                                     line=dict(color=NHS_BLUE if chosen else "rgba(118,134,146,0.35)",
                                               width=3 if chosen else 1),
                                     name=one["name"].iloc[0], showlegend=False,
                                     hovertemplate=f"{one['name'].iloc[0]}: %{{y:,.1f}} per 100,000<extra></extra>"),
                          row=r, col=c)
    fig.update_layout(title=dict(text=title, font=dict(size=18, color=NHS_DARK_BLUE)), height=height,
                      template="plotly_white", font=dict(family="Arial, sans-serif", size=12, color="#212B32"),
                      margin=dict(l=60, r=20, t=90, b=40), hovermode="closest")
    fig.update_yaxes(separatethousands=True, rangemode="tozero")
    return fig


def nice_number(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.0f}"
