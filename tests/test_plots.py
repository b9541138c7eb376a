"""Every plot function and its data twin, on synthetic result tables shaped like the models'
(burden.report.synthetic) and on the packaged reference tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from burden import plots
from burden.models.base import ESS_MIN, RHAT_MAX
from burden.registry.markets import SIGNATURE_REGIONS
from burden.report import synthetic


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture(scope="module")
def deaths(rng):
    return synthetic.deaths_summary(rng)


@pytest.fixture(scope="module")
def tables(rng):
    return synthetic.tables(rng)


def test_synthetic_inputs_use_the_market_models_region_keys():
    assert synthetic.HSP_LABELS == SIGNATURE_REGIONS


def _bands(ax) -> int:
    """Number of shaded interval bands (fill_between) on an axes."""
    return sum(isinstance(c, PolyCollection) for c in ax.collections)


# ---- deaths ------------------------------------------------------------------------------

def test_observed_deaths_keeps_gbd_opioid_counts_and_nchs_any_opioid(tables):
    gbd = pd.concat([tables["gbd_deaths"],
                     tables["gbd_deaths"].assign(cause="cocaine_use_disorders")])
    obs = plots.observed_deaths(gbd, tables["us_deaths_by_drug"])
    assert set(obs["source"]) == {"owid_gbd_deaths", "nida_deaths"}
    assert len(obs[obs["source"] == "owid_gbd_deaths"]) == len(tables["gbd_deaths"])
    assert (obs.loc[obs["source"] == "nida_deaths", "location_id"] == "USA").all()


def test_deaths_over_time_panels_follow_chosen_locations(deaths, tables):
    obs = plots.observed_deaths(tables["gbd_deaths"], tables["us_deaths_by_drug"])
    data = plots.deaths_over_time_data(deaths, locations=["IRN", "USA"], observed=obs)
    assert list(dict.fromkeys(data["location_id"])) == ["IRN", "USA"]
    assert set(data["layer"]) == {"estimate", "observed"}
    # observed rows carry no interval; estimates always do
    assert data.loc[data["layer"] == "observed", "lower"].isna().all()
    assert (data.loc[data["layer"] == "estimate", "lower"]
            <= data.loc[data["layer"] == "estimate", "upper"]).all()
    fig = plots.plot_deaths_over_time(data)  # the summary flags years after 2015
    assert len(fig.axes) == 2
    assert all(_bands(ax) == 1 for ax in fig.axes)
    usa = fig.axes[1]
    # GBD and NCHS points in the US panel, GBD only in Iran's
    assert len([c for c in usa.collections if not isinstance(c, PolyCollection)]) == 2
    assert any(p.get_label() == "projection (no data)" for p in usa.patches)


def _vsrr_table() -> pd.DataFrame:
    """VSRR national rows: December any-opioid counts 2016-2018 (2018 flagged
    underreported, with VSRR's predicted value), and rows the deaths fit does not read."""
    rows = [("US", 2016, 12, "any_opioid", 40000.0, 40400.0, False),
            ("US", 2017, 12, "any_opioid", 45000.0, 45500.0, False),
            ("US", 2018, 12, "any_opioid", 30000.0, 33000.0, True),
            ("US", 2017, 6, "any_opioid", 43000.0, 43100.0, False),  # not December
            ("US", 2017, 12, "heroin", 15000.0, 15100.0, False),  # not any opioid
            ("US", 2015, 12, "any_opioid", np.nan, np.nan, False),  # not published
            ("AK", 2017, 12, "any_opioid", 100.0, 101.0, False)]  # a state
    return pd.DataFrame(rows, columns=["location_id", "year", "month", "indicator", "value",
                                       "predicted_value", "underreported"]).assign(
        definition="certified_overdose", source="vsrr_national")


def test_observed_deaths_has_the_vsrr_december_counts_the_deaths_fit_reads(tables):
    """VSRR's December any-opioid counts are US points of the certificate estimand, as the
    deaths fit reads them: VSRR's predicted value where it flags the count underreported
    (the published count kept beside it), the published count otherwise; up to the fit's
    last year."""
    from burden.models.deaths_data import vsrr_december

    obs = plots.observed_deaths(tables["gbd_deaths"], tables["us_deaths_by_drug"],
                                _vsrr_table())
    vsrr = obs[obs["source"] == "vsrr_national"].set_index("year")
    assert sorted(vsrr.index) == [2016, 2017, 2018]
    assert (vsrr["location_id"] == "USA").all()
    assert set(vsrr["definition"]) == {"certified_overdose"}
    assert list(vsrr["value"]) == [40000.0, 45000.0, 33000.0]
    assert list(vsrr["value_type"]) == ["provisional", "provisional",
                                        "provisional, predicted"]
    assert vsrr.loc[2018, "reported_value"] == 30000.0
    assert vsrr[["reported_value"]].loc[[2016, 2017]].isna().all(axis=None)
    fit = vsrr_december(_vsrr_table())  # what the deaths fit reads
    fit = fit[fit["indicator"] == "any_opioid"].set_index("year")["value"]
    assert (fit == vsrr["value"]).all()
    nchs = obs[obs["source"] == "nida_deaths"]
    assert set(nchs["value_type"]) == {"final"} and nchs["reported_value"].isna().all()
    cut = plots.observed_deaths(us_provisional=_vsrr_table(), last_year=2017)
    assert sorted(cut["year"]) == [2016, 2017]


def test_us_panel_draws_vsrr_counts_with_their_own_marker_and_label(deaths, tables):
    obs = plots.observed_deaths(tables["gbd_deaths"], tables["us_deaths_by_drug"],
                                _vsrr_table())
    data = plots.deaths_over_time_data(deaths, locations=["USA"], observed=obs)
    points = data[data["source"] == "vsrr_national"]
    assert len(points) == 3 and (points["layer"] == "observed").all()
    assert set(data.loc[data["layer"] == "estimate", "value_type"].isna()) == {True}
    fig = plots.plot_deaths_over_time(data)
    ax = fig.axes[0]
    scatters = {c.get_label(): c for c in ax.collections if not isinstance(c, PolyCollection)}
    final = next(c for lab, c in scatters.items() if "nida_deaths" in lab)
    provisional = [c for lab, c in scatters.items() if "vsrr_national" in lab]
    assert len(provisional) == 2  # published counts, and the predicted one
    full = next(c for c in provisional if "predicted" not in c.get_label())
    predicted = next(c for c in provisional if "predicted" in c.get_label())
    assert "provisional" in full.get_label() and "certified overdose" in full.get_label()
    assert "underreported" in predicted.get_label()
    assert len(full.get_offsets()) == 2 and len(predicted.get_offsets()) == 1
    assert predicted.get_offsets()[0][1] == 33000.0
    assert predicted.get_facecolor().size == 0 or predicted.get_facecolor()[0][3] == 0
    # a marker of its own beside NIDA's final counts
    mine, nida = full.get_paths()[0].vertices, final.get_paths()[0].vertices
    assert mine.shape != nida.shape or not np.allclose(mine, nida)
    legend = [t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()]
    assert sum("vsrr_national" in t for t in legend) == 2


def test_gbd_round_without_aggregate_totals_is_summed_over_its_countries(deaths, tables):
    """A round whose region (super-region) totals are not in the table: its country values
    summed over each aggregate's countries (hollow points, value_type says so), only in
    years every country has a value; a round with published totals is not summed."""
    gbd = tables["gbd_deaths"]
    later = gbd.assign(gbd_round=2019, source="owid_gbd2019_deaths",
                       value=gbd["value"] / 10)
    later = later[~((later["location_id"] == "CAN") & (later["year"] == 2005))]
    region = gbd[gbd["location_id"] == "IRN"].assign(
        location_id="GBD_R:nme", location_level="region")
    hier = pd.DataFrame([{"iso3": c, "region_id": r, "super_region_id": sr}
                         for c, (_, r, sr) in synthetic.COUNTRIES.items()])
    obs = plots.observed_deaths(pd.concat([gbd, later, region]), gbd_rounds=(2017, 2019),
                                hierarchy=hier)
    summed = obs[obs["value_type"] == "sum of country values"]
    assert set(summed["source"]) == {"owid_gbd2019_deaths", "owid_gbd_deaths"}
    # GBD 2017 has published region totals: summed at super-region level only
    assert not summed[(summed["source"] == "owid_gbd_deaths")
                      & summed["location_id"].str.startswith("GBD_R:")].size
    na = summed[(summed["location_id"] == "GBD_R:na")
                & (summed["source"] == "owid_gbd2019_deaths")].set_index("year")["value"]
    expected = later[later["location_id"].isin(["USA", "CAN"])].groupby("year")["value"].sum()
    assert 2005 not in na.index  # Canada has no 2005 value
    assert np.allclose(na, expected.drop(2005))
    data = plots.deaths_over_time_data(deaths, level="region", observed=obs)
    fig = plots.plot_deaths_over_time(data)
    legend = [t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()]
    assert any("owid_gbd2019_deaths" in t and "sum of its country values" in t
               for t in legend)


def test_deaths_over_time_by_level_and_rates_have_no_gbd_points(deaths, tables):
    obs = plots.observed_deaths(tables["gbd_deaths"])
    data = plots.deaths_over_time_data(deaths, level="region", measure="rate_per_100k",
                                       observed=obs)
    assert set(data["layer"]) == {"estimate"}  # GBD counts are not rates
    assert data["location_id"].nunique() == len(synthetic.REGIONS)
    fig = plots.plot_deaths_over_time(data, ncols=2)
    assert len(fig.axes) == len(synthetic.REGIONS)


def test_deaths_over_time_rejects_bad_input(deaths):
    with pytest.raises(ValueError, match="missing column"):
        plots.deaths_over_time_data(deaths.drop(columns="upper"))
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.deaths_over_time_data(deaths, locations=["XXX"])


def test_country_ranking_is_sorted_and_cut(deaths):
    ranked = deaths.copy()
    ranked.loc[(ranked["location_id"] == "CAN") & (ranked["measure"] == "rate_per_100k"),
               "mean"] = np.nan  # a country without population has no rate
    data = plots.country_ranking_data(ranked, year=2010, top=2)
    assert list(data["rank"]) == [1, 2]
    assert data["mean"].is_monotonic_decreasing
    assert "CAN" not in set(data["location_id"])
    fig = plots.plot_country_ranking(data)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[int(np.argmax(ax.get_yticks()))] == data["location_name"].iloc[0]  # top
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.country_ranking_data(deaths, year=1900)


def test_us_correction(rng):
    summary = synthetic.us_correction(rng)
    data = plots.us_correction_data(summary)
    assert set(data["series"]) == {"reported", "corrected"}
    fig = plots.plot_us_correction(data)
    assert len(fig.axes[0].get_lines()) == 2 and _bands(fig.axes[0]) == 2
    with pytest.raises(ValueError, match="unknown series"):
        plots.us_correction_data(summary.assign(series="adjusted"))


def test_us_correction_points_are_certified_counts_of_no_gbd_round(rng, tables):
    """The "NCHS reported" points are the certificate counts only: GBD values of any round
    (a round whose source id the figure has never heard of included) stay out."""
    gbd = tables["gbd_deaths"]
    rounds = pd.concat([gbd, gbd.assign(gbd_round=2019, source="owid_gbd2019_deaths"),
                        gbd.assign(gbd_round=2023, source="owid_gbd2023_deaths")])
    nida = tables["us_deaths_by_drug"]
    obs = plots.observed_deaths(rounds, nida, gbd_rounds=(2017, 2019, 2023))
    assert set(obs.loc[obs["location_id"] == "USA", "source"]) == {
        "nida_deaths", "owid_gbd_deaths", "owid_gbd2019_deaths", "owid_gbd2023_deaths"}
    data = plots.us_correction_data(synthetic.us_correction(rng), observed=obs)
    points = data[data["series"] == "NCHS reported"]
    assert sorted(points["mean"]) == sorted(nida["value"])
    # nor VSRR's provisional counts: the points are NCHS's final ones
    obs = plots.observed_deaths(rounds, nida, _vsrr_table(), gbd_rounds=(2017, 2019, 2023))
    data = plots.us_correction_data(synthetic.us_correction(rng), observed=obs)
    points = data[data["series"] == "NCHS reported"]
    assert sorted(points["mean"]) == sorted(nida["value"])


def test_plot_functions_draw_on_a_given_axes(deaths):
    fig = Figure()
    ax = fig.add_subplot()
    out = plots.plot_country_ranking(plots.country_ranking_data(deaths, year=2005), ax=ax)
    assert out is fig and len(fig.axes) == 1


# ---- production --------------------------------------------------------------------------

def test_total_from_draws_is_the_interval_of_summed_draws(rng):
    _, _, draws = synthetic.production(rng)
    total = plots.total_from_draws(draws)
    summed = draws.sum("source").stack(s=("chain", "draw"))
    year = int(total["year"].iloc[3])
    expected = np.quantile(summed.sel(year=year).values, [0.025, 0.975])
    row = total[total["year"] == year].iloc[0]
    assert row[["lower", "upper"]].to_numpy() == pytest.approx(expected)
    # production_data takes the world's interval from those draws, not from the summary
    summary = synthetic.production(rng)[0]
    data = plots.production_data(summary, total=total)
    shown = data[data["layer"] == "total"]
    assert len(shown) == len(total) > 0 and set(shown["source"]) == {"WLD"}
    np.testing.assert_allclose(shown[["year", "lower", "upper"]].to_numpy(dtype=float),
                               total[["year", "lower", "upper"]].to_numpy(dtype=float))


def test_production_stack_total_and_published_points(rng, tables):
    summary, total, _ = synthetic.production(rng)
    data = plots.production_data(summary, total=total,
                                 measurements=tables["production_measurements"])
    assert set(data["layer"]) == {"stack", "total", "observed"}
    assert set(data.loc[data["layer"] == "stack", "source"]) == set(synthetic.PRODUCERS)
    assert (data.loc[data["layer"] == "observed", "source"] == "WLD").all()
    assert data.loc[data["source"] == "AFG", "source_name"].iloc[0] == "Afghanistan"
    fig = plots.plot_production(data)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "world total, 95% interval" in labels
    assert sum(lab.startswith("published") for lab in labels) == 2  # verified + unverified
    with pytest.raises(ValueError, match="interval of the total"):
        plots.production_data(summary)  # no WLD rows and no draws


def test_production_shares_scale_published_percent(rng, tables):
    summary, _, _ = synthetic.production(rng)
    data = plots.production_share_data(summary, sources=["AFG", "MMR"],
                                       measurements=tables["production_measurements"])
    obs = data[data["layer"] == "observed"]
    published = tables["production_measurements"]
    published = published[published["measure"] == "share_of_world"]
    assert len(published) > 0  # else both sides below are empty and equal
    assert sorted(obs["mean"]) == pytest.approx(sorted(published["value"] / 100))
    fig = plots.plot_production_shares(data)
    assert len(fig.axes) == 2


# ---- markets -----------------------------------------------------------------------------

def test_market_shares_with_signature_points(rng, tables):
    summary = synthetic.market_summary(rng)
    sig = tables["signature_shares"].copy()
    sig.loc[0, ["share_pct", "upper_pct"]] = [np.nan, 5.0]  # a bound stated in words
    sig.loc[1, "share_pct"] = np.nan  # nothing to draw
    data = plots.market_shares_data(summary, market="USA", signature=sig,
                                    signature_regions=SIGNATURE_REGIONS)
    obs = data[data["layer"] == "observed"]
    assert len(obs) == len(sig) - 1
    assert obs["upper"].max() == pytest.approx(0.05)
    # published labels land on the model's region keys, and keep their labels
    assert set(obs["source_region"]) <= set(summary["source_region"])
    assert set(data["region_label"]) == set(SIGNATURE_REGIONS)
    fig = plots.plot_market_shares(data)
    ax = fig.axes[0]
    # prior-driven years are dashed in the region's own colour, one dashed line per region
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"
              and len(ln.get_xdata())]
    assert len(dashed) == summary.groupby("source_region")["prior_driven"].any().sum() > 0
    flagged = summary[summary["prior_driven"]]
    assert np.isfinite(dashed[0].get_ydata()).sum() >= flagged.groupby(
        "source_region").size().iloc[0]
    assert not [ln for ln in ax.get_lines() if ln.get_color() == "white"]
    assert _bands(ax) == summary["source_region"].nunique()
    # "less than 5%": a downward triangle at 5, not a bar from 0
    assert not [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    down = [c for c in ax.collections if type(c).__name__ == "PathCollection"
            and len(c.get_offsets()) and c.get_offsets()[0][1] == 5.0]
    assert len(down) == 1
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.market_shares_data(summary, market="CAN")


def test_market_shares_name_what_they_leave_out_and_promise_only_what_they_draw(rng, tables):
    """A published share outside the model's years and a region estimated at 0% in every
    year are named in the legend, not drawn, and kept in the twin; the legend promises
    hollow markers only when an unverified point is drawn."""
    summary = synthetic.market_summary(rng)
    zero = summary[summary["source_region"] == "mexico"].assign(
        source_region="other", mean=0.0, lower=0.0, upper=0.0)
    summary = pd.concat([summary, zero], ignore_index=True)
    sig = tables["signature_shares"].copy()
    early = sig.iloc[[0]].assign(year=min(synthetic.YEARS) - 7)
    sig = pd.concat([sig, early], ignore_index=True)
    data = plots.market_shares_data(summary, signature=sig,
                                    signature_regions=SIGNATURE_REGIONS)
    left_out = data[~data["drawn"]]
    assert set(left_out["source_region"]) >= {"other"}
    assert set(left_out.loc[left_out["layer"] == "observed", "year"]) == {
        min(synthetic.YEARS) - 7}
    ax = plots.plot_market_shares(data).axes[0]
    legend = [t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts()]
    assert "Other" not in legend and _bands(ax) == 4
    note = next(t for t in legend if t.startswith("not drawn"))
    assert "Other: 0% in every year" in note and str(min(synthetic.YEARS) - 7) in note
    assert not [t for t in legend if "hollow" in t]  # every synthetic point is verified
    sig.loc[1, "verified"] = False
    ax = plots.plot_market_shares(plots.market_shares_data(
        summary, signature=sig, signature_regions=SIGNATURE_REGIONS)).axes[0]
    assert any("hollow" in t.get_text() for t in ax.get_legend().get_texts())


def test_market_shares_with_the_packaged_signature_program_table(rng):
    """Real published shares (the curated table shipped in the package, no download)."""
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_heroin_signature"]
    sig = reference.load(src.path, CleaningLog(src.id, src.filename), src.id)
    data = plots.market_shares_data(synthetic.market_summary(rng), signature=sig,
                                    signature_regions=SIGNATURE_REGIONS)
    obs = data[data["layer"] == "observed"]
    drawable = sig[sig[["share_pct", "lower_pct", "upper_pct"]].notna().any(axis=1)]
    assert len(obs) == len(drawable) > 0
    assert obs["mean"].dropna().between(0, 1).all()
    inconclusive = obs[~obs["source_region"].isin(list(SIGNATURE_REGIONS.values()))]
    # the packaged table has an "Inconclusive (South America or Mexico)" row (its line 13, USA
    # 2014): such rows
    # stay apart from the model's regions, and they are the only ones that do
    published = drawable["source_region"].str.startswith("Inconclusive").sum()
    assert published > 0 and len(inconclusive) == published
    assert inconclusive["source_region"].str.startswith("Inconclusive").all()
    plots.plot_market_shares(data)


# ---- attribution -------------------------------------------------------------------------

def test_attributable_deaths_and_sensitivity(rng):
    summary, sens = synthetic.attribution(rng)
    totals = summary.groupby("source")["mean"].sum().sort_values(ascending=False)
    named = totals.index[0]  # a source that is in the top 3 whatever the random draw
    data = plots.attributable_deaths_data(summary, top=3, names={named: "Named source"})
    # every source in the twin, the top 3 drawn, the fourth named in the legend
    assert data["source"].nunique() == 4 and data.loc[data["drawn"], "source"].nunique() == 3
    assert set(data.loc[data["source"] == named, "source_name"]) == {"Named source"}
    assert list(dict.fromkeys(data["source"])) == list(totals.index)
    fig = plots.plot_attributable_deaths(data)
    assert _bands(fig.axes[0]) == 3
    unflagged = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert unflagged[-1].startswith("not drawn") and totals.index[3] in unflagged[-1]
    assert not [ln for ln in fig.axes[0].get_lines() if ln.get_color() == "white"]
    # flagged rows: dashed where a prior or an assumption speaks, projected years shaded,
    # the estimand named on the axis
    last = int(summary["year"].max())
    flagged = summary.assign(prior_driven=summary["source"].eq(named),
                             projected=summary["year"] > last - 2,
                             definition="gbd_use_disorder")
    fdata = plots.attributable_deaths_data(flagged, top=3)
    assert fdata.loc[fdata["projected"], "year"].min() == last - 1
    ax = plots.plot_attributable_deaths(fdata).axes[0]
    assert not [ln for ln in ax.get_lines() if ln.get_color() == "white"]
    # the prior-driven source's line is dashed in its own colour, the others solid
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    assert len(dashed) == 1
    named_line = next(ln for ln in ax.get_lines() if ln.get_label() == named)
    assert dashed[0].get_color() == named_line.get_color()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("projected: after GBD's last") for t in legend)
    assert any(t.startswith("dashed") for t in legend)
    assert "Opioid use-disorder deaths (GBD definition)" in ax.get_ylabel()
    assert not [t for t in unflagged if t.startswith("projected")]

    year = int(sens["year"].max())
    sdata = plots.attribution_sensitivity_data(sens, year=year)
    assert len(sdata) == sens["scenario"].nunique() * sens["source"].nunique()
    fig = plots.plot_attribution_sensitivity(sdata)
    assert len(fig.axes[0].containers) == sens["scenario"].nunique()
    top2 = plots.attribution_sensitivity_data(sens, year=year, top=2)
    biggest = sens[sens["year"] == year].groupby("source")["mean"].max().nlargest(2).index
    assert set(top2["source"]) == set(biggest)

    two_markets = pd.concat([summary, summary.assign(market="CAN")])
    with pytest.raises(ValueError, match="choose one"):
        plots.attributable_deaths_data(two_markets)


# ---- axes --------------------------------------------------------------------------------

def _tick_texts(ax, axis: str) -> list[str]:
    ax.figure.draw_without_rendering()
    return [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")() if t.get_text()]


def test_count_axes_have_thousands_separators(rng, deaths, tables):
    """Every axis that counts deaths (or tonnes) reads 350,000, never 350000."""
    big = {"mean": 1e3, "lower": 1e3, "upper": 1e3}
    scaled = deaths.assign(**{c: deaths[c] * f for c, f in big.items()})
    figs = [(plots.plot_deaths_over_time(plots.deaths_over_time_data(
        scaled, level="world")).axes[0], "y")]
    corr = synthetic.us_correction(rng)
    corr = corr.assign(**{c: corr[c] * 20 for c in big})
    figs.append((plots.plot_us_correction(plots.us_correction_data(corr)).axes[0], "y"))
    summary, sens = synthetic.attribution(rng)
    summary = summary.assign(**{c: summary[c] * 100 for c in big})
    sens = sens.assign(**{c: sens[c] * 100 for c in big})
    figs.append((plots.plot_attributable_deaths(
        plots.attributable_deaths_data(summary)).axes[0], "y"))
    figs.append((plots.plot_attribution_sensitivity(plots.attribution_sensitivity_data(
        sens, year=int(sens["year"].max()))).axes[0], "x"))
    cert = synthetic.certified_summary(rng)
    cert = cert.assign(**{c: cert[c] * 100 for c in big})
    figs.append((plots.plot_certified_deaths(plots.certified_deaths_data(cert)).axes[0],
                 "y"))
    prod, total, _ = synthetic.production(rng)
    prod = prod.assign(**{c: prod[c] * 100 for c in big})
    total = total.assign(**{c: total[c] * 100 for c in big})
    figs.append((plots.plot_production(plots.production_data(prod, total=total)).axes[0],
                 "y"))
    for ax, axis in figs:
        texts = _tick_texts(ax, axis)
        assert any("," in t for t in texts), texts
        assert not [t for t in texts if t.replace("\u2212", "").isdigit() and len(t) > 4], texts


def test_series_colours_are_never_the_grey_of_the_legend_keys(rng):
    """Eight sources or more: none takes tab10's grey, which the legend keys for every
    series ("mean, 95% interval") would be mistaken for; those keys are black."""
    from matplotlib.colors import to_hex

    from burden.plots._common import KEY_COLOR, PALETTE

    summary, _ = synthetic.attribution(rng)
    first = summary[summary["source"] == summary["source"].iloc[0]]
    many = pd.concat([first.assign(source=f"copy{i}") for i in range(5)] + [summary])
    ax = plots.plot_attributable_deaths(plots.attributable_deaths_data(many, top=None)
                                        ).axes[0]
    colours = {to_hex(ln.get_color()) for ln in ax.get_lines() if len(ln.get_xdata())}
    assert len(colours) >= 8 and to_hex(PALETTE[7]) not in colours  # 9 sources
    key = next(ln for ln in ax.get_lines() if ln.get_label().startswith("mean"))
    assert to_hex(key.get_color()) == to_hex(KEY_COLOR)


def test_count_axes_name_the_estimand(rng, deaths, tables):
    """No axis says just "Opioid deaths": each names whose deaths it counts (GBD's
    use-disorder deaths, or the certificates'), and a rate says it is a crude rate."""
    obs = plots.observed_deaths(tables["gbd_deaths"], tables["us_deaths_by_drug"])
    fig = plots.plot_deaths_over_time(plots.deaths_over_time_data(
        deaths, locations=["USA"], observed=obs))
    assert fig.axes[0].get_ylabel().replace("\n", " ") == (
        "Opioid use-disorder deaths (GBD definition)")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("nida_deaths" in t and "certified overdose deaths" in t for t in legend)
    rates = plots.plot_deaths_over_time(plots.deaths_over_time_data(
        deaths, level="world", measure="rate_per_100k"))
    assert "crude rate, GBD definition" in rates.axes[0].get_ylabel()
    ranking = plots.plot_country_ranking(plots.country_ranking_data(deaths, year=2010))
    assert "per 100,000 (crude rate, GBD definition), 2010" in ranking.axes[0].get_xlabel()
    us = plots.plot_us_correction(plots.us_correction_data(synthetic.us_correction(rng)))
    assert "certified opioid overdose deaths" in us.axes[0].get_ylabel()
    cert = plots.plot_certified_deaths(plots.certified_deaths_data(
        synthetic.certified_summary(rng)))
    assert "NCHS/VSRR" in cert.axes[0].get_ylabel() and "PHAC" in cert.axes[1].get_ylabel()
    _, sens = synthetic.attribution(rng)
    sdata = plots.attribution_sensitivity_data(sens, year=int(sens["year"].max()))
    assert set(sdata["definition"]) == {"gbd_use_disorder"}
    xlabel = plots.plot_attribution_sensitivity(sdata).axes[0].get_xlabel()
    assert xlabel.startswith("Opioid use-disorder deaths (GBD definition) attributable")


# ---- checks ------------------------------------------------------------------------------

def test_data_coverage_counts_countries_per_source_year(tables):
    county = pd.DataFrame({"location_id": ["US-FIPS:01001"], "year_start": [2006],
                           "year_end": [2012], "source": ["wonder_county"]})
    data = plots.data_coverage_data({**tables, "us_county_deaths": county})
    gbd = data[data["source"] == "owid_gbd_deaths"]
    assert len(gbd) > 0 and (gbd["n_countries"] == len(synthetic.COUNTRIES)).all()
    wonder = data[data["source"] == "wonder_county"]
    assert list(wonder["year"]) == list(range(2006, 2013))  # pooled years all informed
    # world totals (WLD) are not a country: the synthetic table has WLD and AFG rows in the
    # same years, so counting WLD would give 2 there
    measurements = tables["production_measurements"]
    world_years = set(measurements.loc[measurements["iso3"] == "WLD", "year"])
    country_years = set(measurements.loc[measurements["iso3"] != "WLD", "year"])
    assert world_years & country_years
    reference = data[data["source"] == "reference_opium_production"]
    assert set(reference["year"]) == country_years and (reference["n_countries"] == 1).all()
    fig = plots.plot_data_coverage(data)
    assert len(fig.axes) == 2  # heat map and its colour bar
    with pytest.raises(ValueError, match="unknown table"):
        plots.data_coverage_data({"mystery": tables["gbd_deaths"]})


def test_data_coverage_counts_only_what_the_fits_read_over_the_model_years(tables):
    """Tables no fit reads, rows no fit reads (GBD's rates and other causes, a round not
    fitted, NIDA's rates) and years outside the models' are not counted; rows are named
    by what they hold and who publishes it, not by internal source id."""
    gbd = tables["gbd_deaths"]
    gbd = pd.concat([gbd, gbd.assign(measure="rate_age_std_per_100k",
                                     source="owid_gbd_opioid_rate"),
                     gbd.assign(cause="cocaine_use_disorders"),
                     gbd.assign(gbd_round=2019, source="owid_gbd2019_deaths")])
    nida = tables["us_deaths_by_drug"]
    nida = pd.concat([nida, nida.assign(measure="rate_per_100k", source="nida_rates")])
    population = pd.DataFrame({"location_id": "USA", "year": range(1960, 2020),
                               "value": 3e8, "source": "worldbank_population"})
    county = pd.DataFrame({"location_id": ["US-FIPS:01001"], "year_start": [2006],
                           "year_end": [2012], "source": ["wonder_county"]})
    data = plots.data_coverage_data(
        {**tables, "gbd_deaths": gbd, "us_deaths_by_drug": nida, "population": population,
         "us_county_deaths": county},
        used=["gbd_deaths", "us_deaths_by_drug", "population"], years=(2000, 2017),
        gbd_rounds=[2017])
    assert set(data["source"]) == {"owid_gbd_deaths", "nida_deaths", "worldbank_population"}
    assert data["year"].between(2000, 2017).all()
    assert (data.loc[data["source"] == "owid_gbd_deaths", "n_countries"]
            == len(synthetic.COUNTRIES)).all()  # the cocaine rows are not more countries
    labels = dict(zip(data["source"], data["label"]))
    assert labels["owid_gbd_deaths"] == (
        "opioid use-disorder deaths: IHME GBD 2017 via Our World in Data")
    assert labels["worldbank_population"] == "population: World Bank"
    ax = plots.plot_data_coverage(data).axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert not [t for t in ticks if "_" in t]
    assert ticks[-1].startswith("opioid use-disorder deaths")  # the first table on top
    assert ax.get_xlim()[0] > 1999


def test_data_coverage_knows_every_processed_table():
    """A processed table the coverage figure does not know stops `burden report` (as the
    Canada and UNODC tables once did): every table in the schemas must be handled."""
    from burden.data.schemas import TABLES
    from burden.plots.coverage import _country_years

    for name, table in TABLES.items():
        empty = pd.DataFrame(columns=list(table.schema.columns))
        out = _country_years(name, empty)
        assert list(out.columns) == ["source", "country", "year"], name


def test_ppc_from_idata_flags_observations_outside_their_interval():
    rng = np.random.default_rng(3)
    observed = np.array([0.0, 1.0, 50.0])
    pp = rng.normal(0.0, 1.0, size=(2, 100, 3))
    tree = xr.DataTree.from_dict({
        "observed_data": xr.Dataset({"y": ("obs", observed)}),
        "posterior_predictive": xr.Dataset({"y": (("chain", "draw", "obs"), pp)}),
    })
    data = plots.ppc_from_idata(tree, "toy")
    assert list(data["inside"]) == [True, True, False]
    fig = plots.plot_ppc(data)
    assert "67% inside" in fig.axes[0].get_title()


def test_ppc_interval_is_xarrays_quantile_over_the_pooled_draws_nans_skipped():
    """The vectorised interval equals xarray's slice-by-slice quantile and mean, for a
    2-D variable whose draws hold a NaN (one element) and an all-NaN element."""
    rng = np.random.default_rng(5)
    pp = rng.gamma(2.0, 1.0, size=(2, 50, 3, 4))
    pp[0, 3, 1, 2] = np.nan
    pp[..., 2, 0] = np.nan
    tree = xr.DataTree.from_dict({
        "observed_data": xr.Dataset({"y": (("a", "b"), rng.gamma(2.0, 1.0, (3, 4)))}),
        "posterior_predictive": xr.Dataset({"y": (("chain", "draw", "a", "b"), pp)}),
    })
    data = plots.ppc_from_idata(tree, "toy").reset_index(drop=True)
    draws = tree["posterior_predictive"]["y"].stack(sample=("chain", "draw"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expect = {"mean": draws.mean("sample"), "lower": draws.quantile(0.025, "sample"),
                  "upper": draws.quantile(0.975, "sample")}
    for col, arr in expect.items():
        np.testing.assert_allclose(data[col], np.asarray(arr.transpose("a", "b")).ravel(),
                                   rtol=1e-12, equal_nan=True, err_msg=col)
    assert data["lower"].isna().sum() == 1  # the all-NaN element


def test_convergence_flags_variables_beyond_thresholds():
    diag = pd.DataFrame({"variable": ["a", "b", "c"], "size": [1, 2, 3],
                         "r_hat_max": [1.0, RHAT_MAX + 0.05, 1.0],
                         "ess_bulk_min": [ESS_MIN * 2, ESS_MIN * 2, ESS_MIN / 2],
                         "ess_tail_min": [500.0, 500.0, 500.0]})
    data = plots.convergence_data({"m": diag})
    assert list(data["ok"]) == [True, False, False]
    fig = plots.plot_convergence(data)
    named = {t.get_text() for t in fig.axes[0].texts}
    assert named == {"m: b", "m: c"}
    fig = plots.plot_convergence(data, label_worst=1)
    assert [t.get_text() for t in fig.axes[0].texts] == ["m: b"]  # highest R-hat first


def test_backtest_coverage_and_its_jeffreys_interval():
    bt = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 2,
                       "observed": [0, 0, 0, 9, 0, 0], "lower": -1.0, "upper": 1.0})
    data = plots.backtest_coverage_data(bt)
    a, b = data.set_index("group").loc["a"], data.set_index("group").loc["b"]
    assert (a["n"], a["covered"], a["coverage"]) == (4, 3, 0.75)
    assert a["coverage_lower"] < 0.75 < a["coverage_upper"] < 1
    assert b["coverage_upper"] == 1.0  # all covered: the interval reaches 1
    fig = plots.plot_backtest_coverage(data)
    assert len(fig.axes[0].get_yticklabels()) == 2


def test_interval_summary_skips_missing_draws_like_xarray_quantile():
    """The vectorised quantiles equal xarray's NaN-skipping ones: all-missing cells give
    NaN, partly missing cells the quantile of the values present."""
    from burden.draws import interval_summary

    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 300, 6, 5))
    values[..., 0, :] = np.nan  # a location without a rate (TWN)
    values[0, :10, 1, 2] = np.nan  # a few draws missing in one cell
    draws = xr.DataArray(values, dims=("chain", "draw", "location", "year"),
                         coords={"location": list("abcdef"), "year": np.arange(2000, 2005)})
    got = interval_summary(draws)
    stacked = draws.stack(sample=["chain", "draw"])
    for col, q in (("lower", 0.025), ("upper", 0.975)):
        want = stacked.quantile(q, dim="sample").drop_vars("quantile")
        np.testing.assert_allclose(got[col].to_numpy(),
                                   want.to_dataframe(name="x")["x"].to_numpy())
    assert got.loc[got.location == "a", "lower"].isna().all()
    assert got.loc[(got.location == "b") & (got.year == 2002), "lower"].notna().all()


def test_us_years_its_certified_counts_carry_are_hatched_not_projected():
    """The deaths model flags the US projected only after its last certified count, so
    the US years after GBD's last are 'certified counts' by GBD's last year, not by the
    flag; a country without certified counts is projected after GBD's last year."""
    from burden.plots._common import CERTIFIED_ONLY, PROJECTION
    from burden.plots.deaths import _periods

    rows = pd.DataFrame({"location_id": ["USA"] * 4 + ["CAN"] * 2,
                         "year": [2019, 2020, 2024, 2025, 2019, 2020],
                         "projected": [False, False, False, True, False, True]})
    want = ["data", CERTIFIED_ONLY, CERTIFIED_ONLY, PROJECTION, "data", PROJECTION]
    for last in (2019, 2016, None):  # read from the flags of the others, not this
        periods = _periods(rows, last, {"USA": 2024}).tolist()
        assert [p if p in (CERTIFIED_ONLY, PROJECTION) else "data" for p in periods] == want
    us_only = rows[rows["location_id"] == "USA"]  # no other flag: GBD's end as given
    periods = _periods(us_only, 2019, {"USA": 2024}).tolist()
    assert [p if p in (CERTIFIED_ONLY, PROJECTION) else "data" for p in periods] == want[:4]
