"""The dashboard under Streamlit's AppTest: every page renders, levers change the scenario, links
reproduce it, bad links and bad files get messages (never tracebacks). Small ensembles keep it quick."""

from __future__ import annotations

import base64
import datetime as dt
import json

import numpy as np
import pytest
import yaml

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import charts, exports, state  # noqa: E402
from model.scenario import ScenarioError, load_scenario  # noqa: E402

from pathlib import Path  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
FAST = {"runs": "4", "scale": "50", "ccg_scale": "20"}
PAGES = ["views/scenario.py", "views/uptake.py", "views/services.py", "views/ccg.py", "views/compare.py",
         "views/assumptions.py", "views/backtest.py"]


@pytest.fixture(autouse=True)
def _temporary_store(tmp_path_factory, monkeypatch):
    """Ensembles go to a temporary results store, not the repository's results/."""
    monkeypatch.setenv("PHB_DASHBOARD_STORE", str(tmp_path_factory.getbasetemp() / "store"))


def app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in {**FAST, **params}.items():
        at.query_params[k] = v
    return at


def decode(values):
    """Plotly 7 stores numpy arrays in figure JSON as {"dtype", "bdata"} (base64)."""
    if isinstance(values, dict) and "bdata" in values:
        arr = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        return arr.reshape(values["shape"]) if "shape" in values else arr
    return np.asarray(values)


def figure(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def median_trace(fig: dict) -> np.ndarray:
    trace = next(t for t in fig["data"] if t.get("name") == "Median")
    return decode(trace["y"]).astype(float)


def url(at: AppTest) -> dict[str, str]:
    """The query string the app writes (AppTest does not reflect st.query_params writes back; the
    browser test checks the real address bar)."""
    return state.to_params(at.session_state["choice"])


def messages(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(page):
    at = app()
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, messages(at)
    assert at.title and at.title[0].value


def test_pages_with_charts_draw_them():
    at = app()
    at.run()
    for page, n in (("views/uptake.py", 5), ("views/ccg.py", 2), ("views/compare.py", 2), ("views/backtest.py", 1)):
        at.switch_page(page).run()
        assert len(at.get("plotly_chart")) >= n, page


def test_lever_change_changes_scenario_and_url():
    at = app()
    at.run()
    lever = at.number_input(key="lever_national_push_strength")
    assert lever.label.startswith("Strength of the national push on CCGs")  # the register's label
    assert "Source:" in lever.help and "0–1" in lever.help
    lever.set_value(0.9).run()
    choice = at.session_state["choice"]
    assert choice.overrides == {"national_push_strength": 0.9}
    assert url(at)["national_push_strength"] == "0.9"
    diff = at.dataframe[0].value
    assert "Strength of the national push on CCGs" in list(diff["Lever"])
    assert not at.exception


def test_lever_change_redraws_the_fan_chart():
    at = app()
    at.run()
    at.switch_page("views/uptake.py").run()
    before = median_trace(figure(at))
    at2 = app(national_push_strength="0.95", funding_follows_target="0.5", national_target="150000")
    at2.run()
    at2.switch_page("views/uptake.py").run()
    after = median_trace(figure(at2))
    assert not at2.exception
    assert after[-1] != before[-1]


def test_share_link_reproduces_scenario_and_numbers():
    at = app(preset="target_100k", view="ytd", national_push_strength="0.7")
    at.run()
    at.switch_page("views/uptake.py").run()
    first = median_trace(figure(at))
    params = url(at)
    assert params["preset"] == "target_100k" and params["view"] == "ytd"
    again = AppTest.from_file(APP, default_timeout=240)
    for k, v in params.items():
        again.query_params[k] = v
    again.run()
    again.switch_page("views/uptake.py").run()
    assert np.array_equal(median_trace(figure(again)), first)
    assert again.session_state["choice"].overrides == {"national_push_strength": 0.7}


def test_preset_change_resets_levers():
    at = app(national_push_strength="0.8")
    at.run()
    at.selectbox(key="preset_box").set_value("money_follows_patient").run()
    choice = at.session_state["choice"]
    assert choice.preset == "money_follows_patient" and choice.overrides == {}
    assert url(at)["preset"] == "money_follows_patient"


@pytest.mark.parametrize("params, needle", [
    ({"national_push_strength": "lots"}, "national_push_strength"),
    ({"national_push_strength": "7"}, "national_push_strength"),
    ({"offer_rat": "0.2"}, "offer_rat"),
    ({"preset": "no_such_plan"}, "preset"),
    ({"runs": "-3"}, "runs"),
    ({"view": "<script>"}, "view"),
    ({"right_to_ask_date": "2014-13-45"}, "right_to_ask_date"),
    ({"right_to_ask_date": "2016-01-01"}, "right_to_ask_date"),  # after the right to have
    ({"merger_policy": "biggest"}, "merger_policy"),
    ({"compare": "baseline"}, "compare"),
])
def test_bad_link_params_give_an_error_not_a_traceback(params, needle):
    at = app(**params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = messages(at)
    assert needle in text, text
    assert any(w in text for w in ("allowed", "not a setting", "must not")), text


def test_upload_scenario_yaml_and_bad_file():
    at = app()
    at.run()
    good = load_scenario("target_100k").with_parameters(take_up_chc=0.55).to_yaml().encode()
    at.get("file_uploader")[0].upload("mine.yaml", good, "application/x-yaml").run()
    choice = at.session_state["choice"]
    assert choice.preset == "target_100k" and choice.overrides == {"take_up_chc": 0.55}
    at2 = app()
    at2.run()
    at2.get("file_uploader")[0].upload("bad.yaml", b"name: x\nparameters:\n  take_up_chc: 3\n").run()
    assert not at2.exception
    assert "take_up_chc" in messages(at2)


def test_backtest_upload_overlays_actuals_and_rejects_bad_csv():
    at = app()
    at.run()
    at.switch_page("views/backtest.py").run()
    csv = b"month,holders\n2015-10-31,4700\n2016-10-31,10824\n2019-03-31,50000\n"
    at.get("file_uploader")[0].upload("actual.csv", csv, "text/csv").run()
    fig = figure(at)
    assert any(t.get("name") == "Actual (uploaded)" for t in fig["data"])
    assert not at.error
    at.get("file_uploader")[0].upload("bad.csv", b"when,count\nsoon,many\n", "text/csv").run()
    assert "missing column" in messages(at)
    assert not at.exception


def test_presentation_mode_hides_controls():
    at = app(present="1")
    at.run()
    at.switch_page("views/uptake.py").run()
    assert not at.exception
    assert not at.number_input  # no option widgets
    assert len(at.get("plotly_chart")) >= 2
    assert figure(at)["layout"]["height"] >= 700


def test_services_page_shows_differences_from_no_phbs():
    at = app()
    at.run()
    at.switch_page("views/services.py").run()
    assert not at.exception
    if at.info:  # a model version without the service side says so
        assert "Not available in this model version" in at.info[0].value
        return
    table = at.dataframe[0].value
    assert "Net cost to the NHS (CCG spending)" in list(table["Measure"])
    assert len(at.get("plotly_chart")) >= 9
    fig = figure(at)
    assert "difference from no PHBs" in fig["layout"]["title"]["text"]


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PNG export needs /usr/bin/chromium")
def test_png_and_powerpoint_exports():
    import io

    import pandas as pd
    from pptx import Presentation

    bands = pd.DataFrame({"month": pd.date_range("2014-04-01", periods=3, freq="MS"), "median": [1, 2, 3],
                          "p2_5": [0, 1, 2], "p10": [0, 1, 2], "p25": [1, 1, 2], "p75": [1, 2, 3],
                          "p90": [2, 3, 4], "p97_5": [2, 3, 5]})
    fig = charts.fan_chart(bands, "People holding a PHB (people)", "People")
    png = exports.png(fig, width=600, height=400)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    deck = Presentation(io.BytesIO(exports.pptx_deck(load_scenario("baseline"), [("Fan", fig)])))
    assert len(deck.slides) == 2


# ---- pure pieces -----------------------------------------------------------------------------------------

def test_params_round_trip():
    choice = state.Choice(preset="restrictive_ccgs", overrides={"take_up_chc": 0.5,
                                                                 "chc_default_date": dt.date(2020, 4, 1)})
    choice.view["view"] = "ytd"
    back, errors = state.parse_params(state.to_params(choice))
    assert not errors
    assert back.preset == choice.preset and back.overrides == choice.overrides and back.view == choice.view


def test_read_actuals_messages():
    with pytest.raises(ValueError, match="row 3"):
        state.read_actuals(b"month,holders\n2016-01-01,5\n2016-02-01,lots\n", "a.csv")
    df = state.read_actuals(b"Month,Holders\n2016-01-31,5\n", "a.csv")
    assert df["month"].iloc[0].day == 1


def test_choice_from_yaml_refuses_bad_files():
    with pytest.raises(ScenarioError, match="offer_rat"):
        state.choice_from_yaml(yaml.safe_dump({"name": "x", "parameters": {"offer_rat": 1}}))
    with pytest.raises(ScenarioError, match="mapping"):
        state.choice_from_yaml("- just\n- a list\n")


def test_html_report_is_self_contained():
    import pandas as pd

    bands = pd.DataFrame({"month": pd.date_range("2014-04-01", periods=3, freq="MS"), "median": [1, 2, 3],
                          "p2_5": [0, 1, 2], "p10": [0, 1, 2], "p25": [1, 1, 2], "p75": [1, 2, 3],
                          "p90": [2, 3, 4], "p97_5": [2, 3, 5]})
    fig = charts.fan_chart(bands, "People holding a PHB (people)", "People")
    html = exports.html_report(load_scenario("baseline"), [("Fan", fig)])
    assert "plotly.js" in html.lower() or "Plotly" in html
    assert "<script src=\"http" not in html  # nothing fetched from the network
    assert "scenario-yaml" in html and "Strength of the national push on CCGs" in html


def test_funnel_limits_widen_for_small_ccgs():
    lo, hi = charts.funnel_limits(np.array([50_000.0, 1_000_000.0]), 20.0, 1.96)
    assert hi[0] - lo[0] > hi[1] - lo[1]
