"""Entry point: `phb dashboard` (or `streamlit run dashboard/app.py`). Reads the link, builds the
navigation and the sidebar; each page lives in dashboard/views/ (not pages/: Streamlit would also auto-register a
`pages/` folder and run those scripts without this entry point on a direct link)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # `streamlit run dashboard/app.py` from a checkout
    sys.path.insert(0, str(ROOT.parent))

from dashboard import exports, state, text, ui  # noqa: E402

st.set_page_config(page_title="PHB roll-out", page_icon=":bar_chart:", layout="wide")

errors = state.init_state()
for message in st.session_state.get("link_errors", []):
    st.error(message)

PAGES = [
    st.Page(str(ROOT / "views" / "scenario.py"), title="Scenario", url_path="scenario", default=True),
    st.Page(str(ROOT / "views" / "uptake.py"), title="Uptake", url_path="uptake"),
    st.Page(str(ROOT / "views" / "services.py"), title="Traditional services", url_path="services"),
    st.Page(str(ROOT / "views" / "ccg.py"), title="CCG variation", url_path="ccg"),
    st.Page(str(ROOT / "views" / "compare.py"), title="Compare", url_path="compare"),
    st.Page(str(ROOT / "views" / "assumptions.py"), title="Assumptions", url_path="assumptions"),
    st.Page(str(ROOT / "views" / "backtest.py"), title="Backtest", url_path="backtest"),
    st.Page(str(ROOT / "views" / "stress.py"), title="Stress test", url_path="stress"),
]
presenting = ui.present()
page = st.navigation(PAGES, position="hidden" if presenting else "sidebar")

if presenting:
    st.markdown("""<style>[data-testid="stSidebar"],[data-testid="stSidebarCollapsedControl"]{display:none}
    html, body, [data-testid="stMarkdownContainer"] p {font-size:1.5rem}
    .stPlotlyChart {min-height: 92vh}</style>""", unsafe_allow_html=True)
    st.caption(text.md("present"))
else:
    with st.sidebar:
        scenario = ui.scenario_now()
        choice = state.current()
        st.markdown(f"**Scenario:** {scenario.name}  \n{len(choice.overrides)} lever(s) changed from the preset")
        with st.expander("Export this scenario"):
            st.caption(text.md("exports"))
            st.download_button("HTML report", data=lambda s=scenario, v=dict(choice.view): exports.html_report(s, ui.headline_figures(s, v)),
                               file_name=f"phb-{scenario.name}.html", mime="text/html", key="dl_report",
                               on_click="ignore")
            if ui.exports_available():
                st.download_button("PowerPoint deck", data=lambda s=scenario, v=dict(choice.view): exports.pptx_deck(s, ui.headline_figures(s, v)),
                                   file_name=f"phb-{scenario.name}.pptx", key="dl_pptx", on_click="ignore",
                                   mime="application/vnd.openxmlformats-officedocument.presentationml.presentation")
            else:
                st.caption(ui.exports_unavailable_reason())
        st.link_button("Presentation mode", url=f"?{'&'.join(f'{k}={v}' for k, v in {**state.to_params(choice), 'present': '1'}.items())}")

page.run()
state.sync_url()
