"""Parameter register: national policy: dates and levers. One line per number, with its unit, range and source."""

import datetime as dt

from model.register.base import NP, P

D = dt.date

ROWS = (
    P("right_to_ask_date", "Right to ask for a PHB (CHC, children's continuing care)", NP, "date",
      D(2014, 4, 1), D(2014, 4, 1), D(2014, 4, 1), "V: DOMAIN.md timeline, Apr 2014", D(2013, 4, 1), D(2030, 3, 1)),
    P("right_to_have_date", "Right to have a PHB (CHC, children's continuing care)", NP, "date",
      D(2014, 10, 1), D(2014, 10, 1), D(2014, 10, 1), "V: DOMAIN.md timeline, 1 Oct 2014", D(2013, 4, 1), D(2030, 3, 1)),
    P("extended_offer_date", "Offer extended to long-term conditions, mental health, learning disability",
      NP, "date", D(2015, 4, 1), D(2015, 4, 1), D(2016, 4, 1), "V2: NHS England commitment, Apr 2015",
      D(2013, 4, 1), D(2030, 3, 1)),
    P("section117_right_date", "Legal right extended to section 117 aftercare", NP, "date",
      D(2019, 12, 1), D(2019, 12, 1), D(2019, 12, 1), "V: HC written statement 31 Oct 2019, from Dec 2019",
      D(2013, 4, 1), D(2030, 3, 1)),
    P("wheelchair_right_date", "Personal wheelchair budgets: wheelchair users eligible", NP, "date",
      D(2019, 12, 1), D(2019, 12, 1), D(2019, 12, 1), "V: HC written statement 31 Oct 2019, from Dec 2019",
      D(2013, 4, 1), D(2030, 3, 1)),
    P("chc_default_date", "PHB by default for CHC home care", NP, "date", D(2019, 4, 1), D(2019, 4, 1),
      D(2020, 4, 1), "assumption: NHS England planning guidance dated it Apr 2019; not in DOMAIN.md",
      D(2013, 4, 1), D(2031, 3, 31)),
    P("right_to_have_multiplier", "Rise in offer rate when a right to have applies", NP, "ratio",
      1.5, 1.1, 2.5, "assumption: a legal right makes CCGs offer more; no published effect size", 1.0, 10.0),
    P("chc_default_multiplier", "Rise in CHC offer rate under PHB-by-default", NP, "ratio", 2.0, 1.2, 4.0,
      "assumption: default offers reach most home-care CHC people; no published effect size", 1.0, 10.0),
    P("national_push_date", "National push and funding begins", NP, "date", D(2016, 4, 1), D(2016, 4, 1),
      D(2016, 4, 1), "V: mandate 2016–2021 (DOMAIN.md timeline)", D(2013, 4, 1), D(2030, 3, 1)),
    P("national_push_strength", "Strength of the national push on CCGs", NP, "0–1", 0.3, 0.1, 0.6,
      "assumption: 2016 planning guidance set milestones but little money; 0 = none, 1 = all-out",
      0.0, 1.0, lever=True),
    P("national_target", "National target for people holding a PHB", NP, "people", 50_000, 50_000, 100_000,
      "V: mandate 50,000–100,000 by March 2021", 0, 2_000_000, lever=True),
    P("national_target_date", "Date the national target is due", NP, "date", D(2021, 3, 31),
      D(2021, 3, 31), D(2021, 3, 31), "V: mandate, by March 2021", D(2014, 4, 1), D(2030, 3, 31)),
    P("covid_start", "Covid-19 disruption starts", NP, "date", D(2020, 3, 1), D(2020, 3, 1), D(2020, 3, 1),
      "V: DOMAIN.md timeline, Mar 2020", D(2013, 4, 1), D(2031, 3, 31)),
    P("covid_end", "Covid-19 disruption ends", NP, "date", D(2021, 6, 30), D(2021, 3, 31), D(2021, 12, 31),
      "V: DOMAIN.md timeline, 2020/21; end month an assumption", D(2013, 4, 1), D(2031, 3, 31)),
    P("covid_offer_reduction", "Share of offers and support planning lost during Covid-19", NP, "share",
      0.4, 0.2, 0.6, "assumption: routine activity disrupted (V); size not published", 0.0, 1.0),
    P("funding_follows_target", "Share of CCGs' financial pressure offset by national funding in a push",
      NP, "share", 0.0, 0.0, 0.5, "assumption: baseline had no ring-fenced money; a push scenario adds it",
      0.0, 1.0, lever=True),
)
