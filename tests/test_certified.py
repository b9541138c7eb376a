"""CertifiedDeaths: certified opioid-involved overdose deaths, US by drug and Canada, to the
present: inputs (windows, underreported months, partial years), the bounded correction for
unspecified drugs, and the real-data fit against the counts it was fitted to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from burden.models.certified_data import SERIES, prepare_inputs


def test_inputs_keep_every_source_as_a_measurement(certified_tables):
    inp = prepare_inputs(certified_tables, first_year=1999, last_year=2025)
    obs = inp.obs
    us = obs[obs["series"] == "USA:any_opioid"]
    # NCHS final counts 1999-2019 and VSRR December counts 2015 on, both kept
    assert set(us.loc[us["source"] == "nchs_final", "year"]) == set(range(1999, 2020))
    assert set(us.loc[(us["source"] == "vsrr") & (us["kind"] == "count"), "year"]) == set(
        range(2015, 2024))
    # 2024 and the window ending April 2025 are underreported: a lower bound and a nowcast
    late = us[us["year"] >= 2024].sort_values(["year", "end_month", "kind"])
    assert list(zip(late["year"], late["end_month"], late["kind"])) == [
        (2024, 12, "lower_bound"), (2024, 12, "nowcast"),
        (2025, 4, "lower_bound"), (2025, 4, "nowcast")]
    # the nowcast is the publisher's predicted value, above the reported count
    lb, now = late[late["kind"] == "lower_bound"], late[late["kind"] == "nowcast"]
    assert (now["value"].to_numpy() > lb["value"].to_numpy()).all()
    canada = obs[obs["series"] == "CAN:any_opioid"]
    assert set(canada["year"]) == set(range(2016, 2026))
    row = np.flatnonzero((obs["series"] == "CAN:any_opioid") & (obs["year"] == 2025))[0]
    assert inp.weights[row, -1] == pytest.approx(9 / 12) and inp.weights[row].sum() == \
        pytest.approx(9 / 12)
    # unspecified deaths from every VSRR December: all overdoses x (1 - percent specified)
    u = inp.unspecified.set_index("year")
    assert list(u.index) == list(range(2015, 2025))
    assert (u["unspecified"] < u["all_overdose"]).all() and (u["unspecified"] > 0).all()
    assert set(inp.series) == set(SERIES)


@pytest.mark.realdata
def test_cut_inputs_leave_later_years_out(certified_tables):
    inp = prepare_inputs(certified_tables, first_year=1999, last_year=2025,
                         last_data_year=2015)
    assert inp.obs["year"].max() == 2015
    assert inp.last_data_year["USA:any_opioid"] == 2015
    assert "CAN:any_opioid" not in inp.series  # PHAC counts start in 2016
    assert any("CAN:any_opioid" in note for note in inp.notes)
    with pytest.raises(ValueError, match=r"us_deaths_by_drug lacks drugs \[.any_opioid."):
        prepare_inputs(certified_tables, first_year=1999, last_year=2025, last_data_year=1990)


@pytest.fixture(scope="session")
def certified_fit(certified_tables):
    import warnings

    from burden.models.certified import CertifiedDeaths

    model = CertifiedDeaths(sampler_config={"random_seed": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(certified_tables, progressbar=False)
    return model


@pytest.mark.slow
@pytest.mark.realdata
def test_certified_counts_lie_in_their_90pct_predictive_intervals(certified_fit):
    """Near-census counts: every certified count the model was fitted to (NCHS final,
    VSRR December, PHAC annual) lies inside its 90% posterior predictive interval."""
    pp = certified_fit.sample_posterior_predictive(random_seed=3)
    draws = pp["posterior_predictive"]["certified_count"].stack(s=("chain", "draw"))
    lo, hi = np.quantile(draws.values, [0.05, 0.95], axis=-1)
    obs = certified_fit.inputs().obs
    counts = obs[obs["kind"] == "count"].reset_index(drop=True)
    inside = (counts["value"] >= lo) & (counts["value"] <= hi)
    assert len(counts) > 100
    assert inside.all(), counts[~inside].assign(lower=lo[~inside], upper=hi[~inside])


@pytest.mark.slow
@pytest.mark.realdata
def test_us_recent_years_and_the_bounded_correction(certified_fit):
    report = certified_fit.convergence_report()
    assert report["converged"], report
    summary = certified_fit.summary().set_index(["series", "year"])
    obs = certified_fit.inputs().obs
    vsrr = obs[(obs["series"] == "USA:any_opioid") & (obs["source"] == "vsrr")
               & (obs["kind"] == "count")].set_index("year")["value"]
    for year in range(2020, 2024):  # within 5% of the VSRR reported December counts
        assert abs(summary.loc[("USA:any_opioid", year), "mean"] / vsrr[year] - 1) < 0.05
    assert bool(summary.loc[("USA:any_opioid", 2024), "nowcast"])
    assert bool(summary.loc[("CAN:any_opioid", 2025), "nowcast"])  # January-September only
    assert not summary.loc[("CAN:any_opioid", 2024), "nowcast"]
    assert not summary.loc[("USA:any_opioid", 2023), "nowcast"]
    imputed = certified_fit.imputed_draws()
    unspecified = certified_fit.inputs().unspecified.set_index("year")["unspecified"]
    assert (imputed <= unspecified.to_xarray()).all()  # never above unspecified deaths
    table = certified_fit.us_correction_summary()
    assert table.loc[table["series"] == "corrected", "prior_driven"].all()
    assert (table["definition"] == "certified_overdose").all()  # the estimand, named


@pytest.mark.slow
@pytest.mark.realdata
def test_result_tables_validate_and_the_fit_round_trips(certified_fit, tmp_path):
    from burden import summarise
    from burden.models.certified import CertifiedDeaths
    from burden.report.collect import read_results

    certified_fit.save(tmp_path / "certified.nc")
    summarise.summarise("certified", tmp_path)
    manifest, frames = read_results("certified", tmp_path / "certified")
    expected = certified_fit.summary()
    pd.testing.assert_frame_equal(frames["summary"], expected, check_dtype=False, rtol=1e-9)
    assert manifest["status"] == "converged"
    assert (frames["ppc"]["inside"]).mean() >= 0.9
    again = CertifiedDeaths.load(tmp_path / "certified.nc")
    pd.testing.assert_frame_equal(again.summary(), expected)
    assert again.model_config == certified_fit.model_config
    # predict: one series' draws by year, nothing else
    draws = again.predict(series="USA:synthetic_opioids", years=[2019, 2023])
    assert draws.dims == ("chain", "draw", "year")
    assert float(draws.sel(year=2023).mean()) > float(draws.sel(year=2019).mean())
