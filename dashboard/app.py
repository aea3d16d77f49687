"""Entry point: `phb dashboard` (or `streamlit run dashboard/app.py`). Reads the link, builds the
navigation and the sidebar (end date, seed and the count of changes on every page); each page lives in
dashboard/views/ (not pages/: Streamlit would also auto-register a `pages/` folder and run those scripts
without this entry point on a direct link). Presentation mode replaces the pages with one chart per screen."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # `streamlit run dashboard/app.py` from a checkout
    sys.path.insert(0, str(ROOT.parent))

from dashboard import exports, model_calls, state, text, ui  # noqa: E402
from dashboard.views import levers, present  # noqa: E402

st.set_page_config(page_title="PHB roll-out", page_icon=":bar_chart:", layout="wide")
st.html(f"<style>{ui.STILL_CSS}</style>")  # style only: Streamlit puts it out of the page's flow
if __name__ == "__main__":  # not when a spawned process (Dask's, say) re-runs this script as __mp_main__ to boot
    model_calls.start_pool()  # once per server: workers import the model now, not when the first ensemble waits

state.init_state()
# a bad link is reported once, on the first page drawn, not on every page for the whole session
for message in st.session_state.pop("link_errors", []):
    st.error(message)

PAGES = [
    # the landing page is its own page, so /scenario is a real address (no "Page not found")
    st.Page(str(ROOT / "views" / "home.py"), title="Start", url_path="start", default=True),
    st.Page(str(ROOT / "views" / "scenario.py"), title="Scenario", url_path="scenario"),
    st.Page(str(ROOT / "views" / "uptake.py"), title="Uptake", url_path="uptake"),
    st.Page(str(ROOT / "views" / "services.py"), title="Traditional services", url_path="services"),
    st.Page(str(ROOT / "views" / "ccg.py"), title="CCG variation", url_path="ccg"),
    st.Page(str(ROOT / "views" / "compare.py"), title="Compare", url_path="compare"),
    st.Page(str(ROOT / "views" / "assumptions.py"), title="Assumptions", url_path="assumptions"),
    st.Page(str(ROOT / "views" / "backtest.py"), title="Backtest", url_path="backtest"),
    st.Page(str(ROOT / "views" / "fit.py"), title="Fit", url_path="fit"),
    st.Page(str(ROOT / "views" / "stress.py"), title="Stress test", url_path="stress"),
]
presenting = ui.present()
page = st.navigation(PAGES, position="hidden" if presenting else "sidebar")

if presenting:
    present.show()
else:
    with st.sidebar:
        scenario = ui.scenario_now()
        choice = state.current()
        n = levers.changes(choice)
        st.markdown(f"**Scenario:** {text.escaped(scenario.name)}  \n{n} change{'s' if n != 1 else ''} from the preset "
                    f"'{choice.preset}'")
        levers.end_date_and_seed("side_")
        st.page_link(str(ROOT / "views" / "scenario.py"), label="Every lever (Scenario page)")
        with st.expander("Export this scenario"):
            st.caption(text.md("exports"))
            view, preset = dict(choice.view), state.preset_scenario(choice.preset)
            st.download_button("HTML report", data=lambda s=scenario, v=view, p=preset: exports.html_report(
                s, exports.figures_for(s, v), method=exports.method(s, v), preset=p),
                file_name=f"phb-{scenario.name}.html", mime="text/html", key="dl_report", on_click="ignore")
            if ui.exports_available():
                st.download_button("PowerPoint deck", data=lambda s=scenario, v=view, p=preset: exports.pptx_deck(
                    s, exports.figures_for(s, v), method=exports.method(s, v), preset=p),
                    file_name=f"phb-{scenario.name}.pptx", key="dl_pptx", on_click="ignore",
                    mime="application/vnd.openxmlformats-officedocument.presentationml.presentation")
            else:
                st.caption(ui.exports_unavailable_reason())
        params = {**state.to_params(choice), "present": "1"}
        st.link_button("Presentation mode", url="/?" + "&".join(f"{k}={v}" for k, v in params.items()))
    page.run()
state.sync_url()
