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
FAST = {"runs": "4", "scale": "100", "ccg_scale": "50"}
PAGES = ["views/home.py", "views/scenario.py", "views/uptake.py", "views/services.py", "views/ccg.py", "views/compare.py",
         "views/assumptions.py", "views/backtest.py"]


@pytest.fixture(autouse=True)
def _temporary_store(tmp_path_factory, monkeypatch):
    """Ensembles go to a temporary results store, not the repository's results/; the worker pool is not
    started with the app (these ensembles are small; test_dashboard_waits.py tests the early start)."""
    monkeypatch.setenv("PHB_DASHBOARD_STORE", str(tmp_path_factory.getbasetemp() / "store"))
    monkeypatch.setenv("PHB_DASHBOARD_POOL", "off")


def app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in {**FAST, **params}.items():
        at.query_params[k] = v
    return at


def on_scenario_page(**params) -> AppTest:
    at = app(**params)
    at.run()
    at.switch_page("views/scenario.py").run()
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
    for page, n in (("views/uptake.py", 5), ("views/ccg.py", 3), ("views/compare.py", 4), ("views/backtest.py", 1)):
        at.switch_page(page).run()
        assert len(at.get("plotly_chart")) >= n, page


def test_lever_change_changes_scenario_and_url():
    at = on_scenario_page()
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
    at = on_scenario_page(national_push_strength="0.8")
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
    at = on_scenario_page()
    good = load_scenario("target_100k").with_parameters(take_up_chc=0.55).to_yaml().encode()
    at.get("file_uploader")[0].upload("mine.yaml", good, "application/x-yaml").run()
    choice = at.session_state["choice"]
    assert choice.preset == "target_100k" and choice.overrides == {"take_up_chc": 0.55}
    at2 = on_scenario_page()
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


def test_presentation_mode_one_chart_per_screen_with_next_and_previous():
    at = app(present="1")
    at.run()
    assert not at.exception
    assert not at.number_input and not at.date_input and not at.get("file_uploader")  # no editing form
    assert len(at.get("plotly_chart")) == 1
    first = figure(at)
    assert 700 <= first["layout"]["height"] <= 950  # fits a 1080-pixel screen with the buttons above
    at.button(key="slide_next").click().run()
    assert not at.exception and len(at.get("plotly_chart")) == 1
    assert figure(at)["layout"]["title"]["text"] != first["layout"]["title"]["text"]
    at.button(key="slide_prev").click().run()
    assert figure(at)["layout"]["title"]["text"] == first["layout"]["title"]["text"]


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
    fig = figure(at)
    assert "difference from no PHBs" in fig["layout"]["title"]["text"]
    # every other measure over time, one panel each of one figure: a median line, its interval, zero marked
    grid = next(f for f in map(lambda i: figure(at, i), range(len(at.get("plotly_chart"))))
                if f["layout"]["title"]["text"].startswith("Every measure over time"))
    titles = [a["text"] for a in grid["layout"]["annotations"]]
    assert len(titles) == len(table) - 1 >= 8  # all but the net cost, which has the chart above
    assert {t["xaxis"] for t in grid["data"]} == {f"x{'' if k == 0 else k + 1}" for k in range(len(titles))}
    assert len(grid["data"]) == 3 * len(titles) and len(grid["layout"]["shapes"]) == len(titles)
    medians = [t for t in grid["data"] if t.get("name") == "Difference (median)"]
    assert all(np.isfinite(decode(t["y"]).astype(float)).all() for t in medians)


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
    assert len(deck.slides) == 4  # title, the chart, assumptions, method


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PNG export needs /usr/bin/chromium")
def test_pictures_share_one_browser_and_draw_what_plotly_draws():
    from dashboard import pictures

    exports._kaleido_ready()
    fig = _tiny_figure()
    first = exports.png(fig, width=500, height=300)
    browser = pictures._BROWSER
    second = exports.png(fig, width=500, height=300)
    assert browser is not None and pictures._BROWSER is browser  # the same browser served both
    assert first == second == fig.to_image(format="png", width=500, height=300)  # plotly's own path, per call


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PNG export needs /usr/bin/chromium")
def test_a_browser_that_does_not_answer_costs_one_error_and_the_next_picture_starts_afresh(monkeypatch):
    from concurrent.futures import Future

    from dashboard import pictures

    class Stuck(pictures._Browser):
        def __init__(self):  # no thread: it never answers
            pass

        def draw(self, fig, opts):
            return Future()

    exports._kaleido_ready()
    monkeypatch.setattr(pictures, "WAIT_S", 0.2)
    monkeypatch.setattr(pictures, "_BROWSER", Stuck())
    with pytest.raises(exports.ExportError, match="did not draw the picture within 0.2 s"):
        exports.png(_tiny_figure(), width=300, height=200)
    assert pictures._BROWSER is None  # left behind
    monkeypatch.setattr(pictures, "WAIT_S", 120)
    assert exports.png(_tiny_figure(), width=300, height=200)[:8] == b"\x89PNG\r\n\x1a\n"


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


# ---- planners, critics, presenters (issue 14) -----------------------------------------------------------

def test_end_date_and_seed_are_controls_counted_as_changes():
    at = app()
    at.run()
    at.date_input(key="side_until").set_value(dt.date(2030, 3, 31)).run()
    at.number_input(key="side_seed").set_value(7).run()
    choice = at.session_state["choice"]
    assert choice.until == dt.date(2030, 3, 31) and choice.seed == 7
    assert url(at)["until"] == "2030-03-31" and url(at)["seed"] == "7"
    assert any("2 changes from the preset" in m.value for m in at.sidebar.markdown)


def test_end_date_beside_the_fan_changes_the_headline_chances():
    at = app()
    at.run()
    at.switch_page("views/uptake.py").run()
    before = {m.label: m.value for m in at.metric}
    assert before["1 million by March 2030"] == "after the end date"
    at.date_input(key="near_until").set_value(dt.date(2030, 3, 31)).run()
    assert not at.exception
    after = {m.label: m.value for m in at.metric}
    assert after["1 million by March 2030"].endswith("%")
    assert at.session_state["choice"].until == dt.date(2030, 3, 31)
    at.number_input(key="near_national_push_strength").set_value(0.95).run()
    assert at.session_state["choice"].overrides == {"national_push_strength": 0.95}
    # the Scenario page's copy of the lever shows the value set beside the chart
    at.switch_page("views/scenario.py").run()
    assert at.number_input(key="lever_national_push_strength").value == 0.95


def test_upload_with_bad_extends_is_refused_and_names_kept():
    at = on_scenario_page()
    bad = b"extends: baseline_typo\nname: my_push\nparameters:\n  national_push_strength: 0.8\n"
    at.get("file_uploader")[0].upload("mine.yaml", bad, "application/x-yaml").run()
    assert not at.exception
    assert "extends" in messages(at) and "baseline_typo" in messages(at)
    assert at.session_state["choice"].overrides == {}  # not silently loaded onto the baseline
    good = (b"extends: target_100k\nname: my_push\ndescription: A push from 2017.\n"
            b"parameters:\n  national_push_date: 2017-04-01\n")
    at2 = on_scenario_page()
    at2.get("file_uploader")[0].upload("good.yaml", good, "application/x-yaml").run()
    built = state.build_scenario(at2.session_state["choice"])
    assert built.name == "my_push" and built.description == "A push from 2017."
    assert at2.session_state["choice"].preset == "target_100k"


def test_uploaded_text_is_never_rendered_as_markdown():
    """A file's name and contents are quoted in the message as code spans: no link, HTML or emphasis."""
    at = on_scenario_page()
    bad = b"extends: '[x](http://evil.example/) <b>hi</b> **loud**'\n"
    at.get("file_uploader")[0].upload("[y](http://evil.example/).yaml", bad, "application/x-yaml").run()
    assert not at.exception
    shown = messages(at)
    assert "evil.example" in shown
    for line in filter(str.strip, shown.split("  \n")):
        assert line.startswith("`") and line.rstrip().endswith("`"), line  # each line one code span
    assert text_escaped_name_is_plain()


def text_escaped_name_is_plain() -> bool:
    from dashboard import text

    out = text.escaped("my_push*[x](http://a.b)<b>")
    return "\\_" in out and "\\[" in out and "\\<" in out and "\\*" in out


def test_link_errors_shown_once_not_on_every_page():
    at = app(national_push_strength="lots")
    at.run()
    assert "national_push_strength" in messages(at)
    at.switch_page("views/assumptions.py").run()
    assert "national_push_strength" not in messages(at)


def test_group_titles_and_messages_in_plain_words():
    at = on_scenario_page()
    titles = [e.label for e in at.expander]
    assert any(t.startswith("CCG behaviour") for t in titles) and not any("Ccg" in t for t in titles)


def test_chances_by_due_date():
    import pandas as pd

    from dashboard import model_calls

    months = pd.date_range("2014-04-01", "2021-03-01", freq="MS")
    prob = {50000: pd.DataFrame({"month": months, "probability": np.linspace(0, 0.8, len(months))}),
            200000: pd.DataFrame({"month": months, "probability": 0.0})}
    due = [[50000, dt.date(2021, 3, 31), "a"], [200000, dt.date(2030, 3, 31), "b"]]
    (p50, _, _), (p200, _, _) = model_calls.chances_by_due(prob, due)
    assert p50 == pytest.approx(0.8) and p200 is None


def test_issued_in_year_resets_each_april_and_sums_new_budgets():
    import pandas as pd

    from dashboard import model_calls

    months = pd.date_range("2015-01-01", "2015-06-01", freq="MS")
    nat = pd.DataFrame({"run": 0, "month": months, "new_holders": [1.0, 2, 3, 4, 5, 6]})
    out = model_calls.with_issued_ytd(nat)
    assert list(out["issued_ytd"]) == [1, 3, 6, 4, 9, 15]  # April starts a new financial year


def test_waterfall_axis_spans_the_steps_not_zero():
    fig = charts.waterfall_chart(("a (median)", 80_000), [("x", 300), ("y", -100)], ("b (median)", 80_200), "t", "People")
    lo, hi = fig.layout.yaxis.range
    assert lo > 70_000 and hi < 90_000


def _tiny_figure():
    import pandas as pd

    bands = pd.DataFrame({"month": pd.date_range("2014-04-01", periods=3, freq="MS"), "median": [1, 2, 3],
                          "p2_5": [0, 1, 2], "p10": [0, 1, 2], "p25": [1, 1, 2], "p75": [1, 2, 3],
                          "p90": [2, 3, 4], "p97_5": [2, 3, 5]})
    return charts.fan_chart(bands, "People holding a PHB (people)", "People")


def test_exports_name_the_edited_values_and_the_method():
    preset = load_scenario("baseline")
    edited = preset.with_parameters(national_push_date=dt.date(2017, 4, 1)).with_(name="baseline_custom")
    view = dict(state.VIEW_DEFAULTS)
    method = exports.method(edited, view)
    # nothing drawn yet in this process: the export's own small size, and it says so
    assert any("Runs: 8 per ensemble" in m and "export size" in m for m in method), method
    assert any("What varied" in m for m in method)
    assert any("Vintage" in m for m in method) and any("Calibration" in m for m in method)
    html = exports.html_report(edited, [("Fan", _tiny_figure())], method=method, preset=preset)
    assert "2017-04-01" in html and "preset 2016-04-01" in html
    assert " ".join(preset.description.split()) not in html  # the preset's words would misdescribe it


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PNG export needs /usr/bin/chromium")
def test_deck_is_16_9_with_every_picture_inside_its_slide():
    import io

    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    preset = load_scenario("baseline")
    edited = preset.with_parameters(national_push_date=dt.date(2017, 4, 1)).with_(name="baseline_custom")
    raw = exports.pptx_deck(edited, [("Fan", _tiny_figure()), ("Again", _tiny_figure())],
                            method=exports.method(edited, dict(state.VIEW_DEFAULTS)), preset=preset)
    deck = Presentation(io.BytesIO(raw))
    assert_pictures_inside(deck)
    assert len(deck.slides) == 1 + 2 + 2  # title, charts, assumptions, method
    words = ["\n".join(sh.text_frame.text for sh in s.shapes if sh.has_text_frame) for s in deck.slides]
    assert "2017-04-01" in words[0] and "Method" in words[-1] and "Assumptions" in words[-2]
    assert sum(sh.shape_type == MSO_SHAPE_TYPE.PICTURE for s in deck.slides for sh in s.shapes) == 2


def assert_pictures_inside(deck) -> None:
    """Every picture lies wholly inside its slide, and the slide is 16:9."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    w, h = deck.slide_width, deck.slide_height
    assert abs(w / h - 16 / 9) < 0.01
    for n, slide in enumerate(deck.slides, 1):
        for sh in slide.shapes:
            if sh.shape_type == MSO_SHAPE_TYPE.PICTURE or sh.has_text_frame:
                assert sh.left >= 0 and sh.top >= 0, (n, sh.name)
                assert sh.left + sh.width <= w and sh.top + sh.height <= h, (n, sh.name)
