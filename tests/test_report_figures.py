"""The report's figure choices (which years have data behind them) and captions, on
synthetic inputs: fast, no fitted model."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from burden.report import choices, synthetic
from burden.report.choices import ReportOptions
from burden.report.figures import figure_specs
from burden.report.provenance import ModelProvenance


def _vsrr(years, value=1000.0) -> pd.DataFrame:
    """December VSRR rows of the deaths fit's drugs (and one it does not read)."""
    return pd.DataFrame([{"location_id": "US", "year": y, "month": 12, "indicator": d,
                          "value": value, "predicted_value": value, "underreported": False}
                         for y in years for d in ("any_opioid", "heroin", "cocaine")])


def _with_deaths_config(inp, **config):
    attrs = {"model_type": "opioid_deaths", "model_config": json.dumps(config)}
    record = dataclasses.replace(inp.models["deaths"],
                                 provenance=ModelProvenance.from_attrs("deaths", "x", attrs))
    return dataclasses.replace(inp, models={**inp.models, "deaths": record})


def _spec(inp, sid):
    return next(s for s in figure_specs(inp, ReportOptions()) if s.id == sid)


def test_us_data_end_is_the_last_certified_count_the_deaths_fit_reads():
    """NCHS final counts end in 2017 in the synthetic tables; VSRR's December counts carry
    the US on; a cocaine count or a month other than December is no US opioid count, and
    a back-test's cut (the fit's last_data_year) ends the US data too."""
    inp = synthetic.synthetic_inputs(seed=1)
    assert choices.last_us_data_year(inp) == choices.us_attribution_year(inp) == 2017
    vsrr = _vsrr([2018, 2019, 2020])
    later = pd.concat([vsrr, _vsrr([2021]).assign(indicator="cocaine"),
                       _vsrr([2022]).assign(month=6)])
    inp.tables["us_provisional_national"] = later
    assert choices.last_us_data_year(inp) == 2020
    # the attribution year stays the NCHS final counts' last year
    assert choices.us_attribution_year(inp) == 2017
    assert choices.last_us_data_year(_with_deaths_config(inp, last_data_year=2019)) == 2019


def test_the_us_attribution_year_is_the_last_nchs_final_count_by_drug():
    """Only the NCHS rows the fits read (deaths of all ages and both sexes, by drug) set
    the US attribution year, and a US market's numbers are shown for it, another market's
    for GBD's last data year."""
    inp = synthetic.synthetic_inputs(seed=1)
    nida = inp.tables["us_deaths_by_drug"]
    nida = nida[nida["year"] <= 2014]
    rate = nida[nida["year"] == 2014].assign(year=2016, measure="rate")
    inp.tables["us_deaths_by_drug"] = pd.concat([nida, rate], ignore_index=True)
    assert choices.us_attribution_year(inp) == 2014
    rows = pd.DataFrame({"year": range(2010, 2019)})
    assert choices.attribution_year(inp, rows, "USA") == 2014
    assert choices.attribution_year(inp, rows, "GBR") == choices.last_data_year(inp) == 2017


def test_the_certified_fits_us_years_come_from_its_summary_only():
    """Without the certified fit's summary its US years are unknown (None, no nowcast), not
    the deaths fit's: the two fits read different counts."""
    inp = dataclasses.replace(synthetic.synthetic_inputs(seed=1), certified_summary=None)
    assert choices.last_us_data_year(inp) == 2017
    assert choices.us_certified_years(inp) == (None, [])


def test_us_panel_is_not_shaded_projection_while_certified_counts_carry_it():
    """deaths_countries: years after GBD's last one are projections, except in the US up
    to its last certified count (shaded as carried by certified counts)."""
    inp = synthetic.synthetic_inputs(seed=1)
    nida = inp.tables["us_deaths_by_drug"]
    inp.tables["us_deaths_by_drug"] = nida[nida["year"] <= synthetic.LAST_DATA_YEAR]
    inp.tables["us_provisional_national"] = _vsrr([2016])
    data = _spec(inp, "deaths_countries").data()
    est = data[data["layer"] == "estimate"]
    us = est[est["location_id"] == "USA"].set_index("year")["period"]
    assert us[synthetic.LAST_DATA_YEAR] == "data"
    assert us[2016] == "certified counts" and us[2017] == "projection"
    other = est[(est["location_id"] != "USA") & (est["year"] == 2016)]
    assert len(other) > 0 and (other["period"] == "projection").all()
    assert (data.loc[data["layer"] == "observed", "period"] == "data").all()


def test_us_correction_shades_the_certified_fits_nowcast_years_not_a_projection():
    """The US correction figure follows the certified fit's own flags: its last year is a
    nowcast (synthetic), shaded as such; no year is a projection while counts reach it."""
    inp = synthetic.synthetic_inputs(seed=1)
    last = max(synthetic.YEARS)
    assert choices.us_certified_years(inp) == (last, [last])
    data = _spec(inp, "us_correction").data()
    model = data[data["series"].isin(["reported", "corrected"])]
    assert set(model.loc[model["year"] == last, "period"]) == {"nowcast"}
    assert set(model.loc[model["year"] < last, "period"]) == {"data"}
    ax = _spec(inp, "us_correction").plot(data).axes[0]
    labels = [p.get_label() for p in ax.patches]
    assert "nowcast: counts still being reported" in labels
    assert not [lab for lab in labels if "projection" in lab]


def test_the_certified_caption_names_the_deaths_each_country_counts():
    """The certified figure's US panel counts certificates, its Canada panel PHAC's
    apparent opioid toxicity deaths: the caption names both, in the registry's words, and
    calls neither the "certificate definition" alone."""
    from burden.registry import estimands

    caption = _spec(synthetic.synthetic_inputs(seed=1), "certified_deaths").caption
    counted = estimands.get("certified_overdose")
    assert f"In the US, {counted.counted_at('USA')}" in caption
    assert f"in Canada, {counted.counted_at('CAN')}" in caption
    assert "apparent opioid toxicity deaths" in caption
    assert "certificate definition" not in caption.lower()


def _two_rounds(inp):
    """Synthetic inputs fitted to two GBD rounds, with world totals of both (as OWID's
    files have) and region totals of the first only."""
    gbd = inp.tables["gbd_deaths"]
    country = gbd.assign(gbd_round=2019, source="owid_gbd2019_deaths")
    world = (pd.concat([gbd, country]).groupby(["gbd_round", "source", "year"], as_index=False)
             ["value"].sum().assign(location_id="WLD", location_name="World",
                                    location_level="world", cause="opioid_use_disorders",
                                    measure="deaths", definition="gbd_use_disorder"))
    region = gbd[gbd["location_id"] == "IRN"].assign(
        location_id="GBD_R:nme", location_name="North Africa and Middle East",
        location_level="region")
    inp.tables["gbd_deaths"] = pd.concat([gbd, country, world, region], ignore_index=True)
    return _with_deaths_config(inp, gbd_rounds=[2017, 2019])


def test_deaths_figures_draw_every_fitted_round_and_say_what_they_draw():
    """The world figure draws both fitted rounds' totals, each its own source (marker and
    legend entry); each deaths caption names only the points its figure draws."""
    inp = _two_rounds(synthetic.synthetic_inputs(seed=1))
    world = _spec(inp, "deaths_world")
    points = world.data().query("layer == 'observed'")
    assert set(points["source"]) == {"owid_gbd_deaths", "owid_gbd2019_deaths"}
    assert set(points["definition"]) == {"gbd_use_disorder"}
    legend = [t.get_text() for t in world.plot(world.data()).legends[0].get_texts()]
    assert sum("GBD 2017" in t for t in legend) == sum("GBD 2019" in t for t in legend) == 1
    assert "world totals of GBD 2017 and GBD 2019, one marker per round" in world.caption
    regions = _spec(inp, "deaths_regions")
    assert set(regions.data().query("layer == 'observed'")["source"]) == {"owid_gbd_deaths"}
    assert "region totals of GBD 2017;" in regions.caption
    assert "no region totals of GBD 2019" in regions.caption
    supers = _spec(inp, "deaths_super_regions")
    assert supers.data().query("layer == 'observed'").empty
    assert "No points" in supers.caption and "Points:" not in supers.caption
    countries = _spec(inp, "deaths_countries")
    assert "NCHS final counts" in countries.caption  # the US is among the countries
    assert "NCHS" not in world.caption
    rates = _spec(inp, "rates_countries")
    assert ("per 100,000 population (crude rate, GBD definition)" in rates.caption
            and "No points" in rates.caption)


def test_us_caption_names_the_vsrr_counts_and_the_predicted_one():
    """With VSRR's national table, the US panel's caption names its provisional counts
    (their years) beside NCHS's final ones, and the year drawn at VSRR's predicted value
    with the count VSRR published."""
    inp = synthetic.synthetic_inputs(seed=1)
    vsrr = _vsrr([2016, 2017]).assign(source="vsrr_national")
    vsrr.loc[(vsrr["year"] == 2017) & (vsrr["indicator"] == "any_opioid"),
             ["value", "predicted_value", "underreported"]] = [900.0, 1250.0, True]
    inp.tables["us_provisional_national"] = vsrr
    countries = _spec(inp, "deaths_countries")
    points = countries.data().query("source == 'vsrr_national'").set_index("year")
    assert list(points["value_type"]) == ["provisional", "provisional, predicted"]
    assert points.loc[2017, "mean"] == 1250.0 and points.loc[2017, "reported_value"] == 900
    assert "NCHS final counts (2000–2017)" in countries.caption
    assert "CDC VSRR provisional counts, 12 months ending December (2016–2017)" in (
        countries.caption)
    assert "2017: 1,250, reported 900" in countries.caption
    assert "VSRR" not in _spec(inp, "deaths_world").caption


def test_caption_quantifies_how_far_the_rounds_disagree():
    """Where two rounds' points differ, the caption says by how much, where and when (the
    last year both have), with the model's mean and interval there: from the twin."""
    from burden import plots
    from burden.report.captions import WHAT, deaths_caption

    inp = _two_rounds(synthetic.synthetic_inputs(seed=1))
    gbd = inp.tables["gbd_deaths"]
    later = gbd["source"] == "owid_gbd2019_deaths"
    gbd.loc[later & (gbd["location_id"] == "IRN") & (gbd["year"] == 2017), "value"] = 1.0
    hier = pd.DataFrame([{"iso3": c, "region_id": r, "super_region_id": sr}
                         for c, (_, r, sr) in synthetic.COUNTRIES.items()])
    obs = plots.observed_deaths(gbd, gbd_rounds=(2017, 2019), hierarchy=hier)
    data = plots.deaths_over_time_data(inp.deaths_summary, level="region", observed=obs)
    round_of = {"owid_gbd_deaths": 2017, "owid_gbd2019_deaths": 2019}
    text = deaths_caption(data, what=WHAT["region"], rounds=[2017, 2019], round_of=round_of,
                          last_data_year=2017)
    first = gbd[(gbd["source"] == "owid_gbd_deaths") & (gbd["location_id"] == "IRN")
                & (gbd["year"] == 2017)]["value"].iloc[0]
    model = data[(data["location_id"] == "GBD_R:nme") & (data["year"] == 2017)
                 & (data["layer"] == "estimate")].iloc[0]
    assert f"by up to a factor {first:.1f} in 2017 (North Africa and Middle East: " in text
    assert f"GBD 2017 {first:,.0f}, GBD 2019 1; model mean {model['mean']:,.0f}" in text
    assert "hollow, GBD 2019's country values summed" in text
    assert "no region totals of GBD 2019" not in text


def test_attribution_captions_name_the_market_and_year_they_show():
    """The attributable-deaths caption names the one market the figure shows (not "each
    market"); the sensitivity caption names its year and what the year is."""
    inp = synthetic.synthetic_inputs(seed=1)
    attr = _spec(inp, "attributable_deaths")
    assert "in the USA market" in attr.caption and "Each market" not in attr.caption
    assert set(attr.data()["market"]) == {"USA"}
    sens = _spec(inp, "attribution_sensitivity")
    year = int(sens.data()["year"].iloc[0])
    assert f"interval in {year}, the last year of the NCHS final counts" in sens.caption
    assert "in the last year with US data" not in sens.caption


def test_data_coverage_shows_the_tables_the_fits_read_and_names_the_others():
    inp = synthetic.synthetic_inputs(seed=1)  # its fits record reading gbd_deaths only
    spec = _spec(inp, "data_coverage")
    data = spec.data()
    assert set(data["table"]) == {"gbd_deaths"}
    assert data["year"].between(min(synthetic.YEARS), max(synthetic.YEARS)).all()
    for table in ("production_measurements", "signature_shares", "us_deaths_by_drug"):
        assert table in spec.caption.split("Not shown: ")[1]
