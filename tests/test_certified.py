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


def test_the_summary_text_names_the_deaths_each_country_counts():
    """Canada's series are PHAC's apparent opioid toxicity deaths (coroners' and medical
    examiners' investigations), not certificates: each series is headed by the wording of
    its own place in the registry, never one "certificate definition" for both."""
    from burden.models.certified import latest_years_text
    from burden.registry import estimands
    from burden.report.synthetic import certified_summary

    text = latest_years_text(certified_summary(np.random.default_rng(1)))
    heads = {line.split(":")[0]: line for line in text.splitlines()
             if not line.startswith(" ")}
    definition = estimands.get("certified_overdose")
    assert definition.counted_at("CAN") in heads["CAN"]
    assert definition.counted_at("USA") in heads["USA"]
    assert "apparent opioid toxicity" in heads["CAN"]
    assert "apparent opioid toxicity" not in heads["USA"]
    assert "(nowcast)" in text  # the synthetic last year is a nowcast


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
    from burden.models.certified import observation_rows

    pp = certified_fit.sample_posterior_predictive(random_seed=3)["posterior_predictive"]
    obs = certified_fit.inputs().obs
    rows = observation_rows(obs, certified_fit.model_config.drug_counts)
    # any-opioid and Canada counts measured alone, drugs' counts split from them
    assert set(rows) >= {"certified_count", "drug_count"}
    for name in ("certified_count", "drug_count"):
        draws = pp[name].stack(s=("chain", "draw"))
        lo, hi = np.quantile(draws.values, [0.05, 0.95], axis=-1)
        counts = obs.iloc[rows[name]].reset_index(drop=True)
        inside = (counts["value"] >= lo) & (counts["value"] <= hi)
        assert (counts["kind"] == "count").all() and len(counts) >= 40
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


def _small_design() -> pd.DataFrame:
    rows = [("USA:any_opioid", 2015, 12, 1000, "count", "nchs_final"),
            ("USA:heroin", 2015, 12, 250, "count", "nchs_final"),
            ("USA:any_opioid", 2015, 12, 1010, "count", "vsrr"),
            ("USA:methadone", 2015, 12, 101, "count", "vsrr"),
            ("USA:heroin", 2016, 12, 300, "count", "vsrr"),  # no any-opioid count of 2016
            ("CAN:any_opioid", 2016, 12, 100, "count", "phac"),
            ("USA:any_opioid", 2017, 4, 1331, "lower_bound", "vsrr"),
            ("USA:any_opioid", 2017, 4, 1400, "nowcast", "vsrr"),
            ("USA:heroin", 2017, 4, 330, "lower_bound", "vsrr"),
            ("USA:heroin", 2017, 4, 350, "nowcast", "vsrr")]
    return pd.DataFrame(rows, columns=["series", "year", "end_month", "value", "kind",
                                       "source"])


def test_each_drug_count_is_split_from_the_any_opioid_count_of_its_window():
    from burden.models.certified import observation_rows, row_values, split_partner

    obs = _small_design()
    # same source, year, end month and kind; lower bounds and unmatched rows are not split
    assert list(split_partner(obs)) == [-1, 0, -1, 2, -1, -1, -1, -1, -1, 7]
    rows = observation_rows(obs)
    assert {k: list(v) for k, v in rows.items()} == {
        "certified_count": [0, 2, 4, 5], "drug_count": [1, 3], "nowcast_count": [7],
        "drug_nowcast": [9], "reported_lower_bound": [6, 8]}
    alone = observation_rows(obs, "independent")
    assert {k: list(v) for k, v in alone.items()} == {
        "certified_count": [0, 1, 2, 3, 4, 5], "nowcast_count": [7, 9],
        "reported_lower_bound": [6, 8]}
    # a data set held by variable back to rows (lower bounds on the log scale), either way
    value = obs["value"].to_numpy(dtype=float)
    for layout in (rows, alone):
        data = {k: (np.log(value[r]) if k == "reported_lower_bound" else value[r] + 1)
                for k, r in layout.items()}
        back = row_values(obs, data)
        expected = np.where(obs["kind"] == "lower_bound", value, value + 1)
        np.testing.assert_allclose(back, expected)


def test_a_drug_counted_above_all_opioids_is_a_clear_error():
    from burden.models.certified import check_split

    obs = _small_design()
    check_split(obs)  # the design is consistent
    obs.loc[3, "value"] = 1011.0
    with pytest.raises(ValueError, match=r"USA:methadone vsrr count 2015-12: 1,011 > 1,010"):
        check_split(obs)


def test_a_config_names_the_ways_drug_counts_can_be_modelled():
    from burden.errors import ConfigError
    from burden.models.certified import CertifiedDeaths

    with pytest.raises(ConfigError, match="drug_counts must be one of"):
        CertifiedDeaths(model_config={"drug_counts": "binomial"})


@pytest.mark.parametrize("p", [0.04, 0.3, 0.92, 0.999])
@pytest.mark.parametrize("cv", [0.005, 0.02, 0.09])
def test_the_split_adds_the_negative_binomials_extra_variance_shrunk_near_a_share_of_1(p, cv):
    """Beyond the binomial's n p (1 - p), the beta-binomial's variance (scipy's moments) is
    n (n - 1) p (1 - p) / (1 + kappa) with kappa = 1 / (p cv^2): about (cv n p)^2 (1 - p),
    the negative binomial's (cv n p)^2 for a small share, never more."""
    from scipy import stats

    from burden.models.certified import split_beta_parameters

    n = 50_000
    a, b = split_beta_parameters(p * 1000.0, (1 - p) * 1000.0, cv**2)
    assert a / (a + b) == pytest.approx(p)
    kappa = a + b
    assert kappa == pytest.approx(1 / (p * cv**2))
    extra = stats.betabinom(n, a, b).var() - n * p * (1 - p)
    assert extra == pytest.approx(n * (n - 1) * p * (1 - p) / (1 + kappa), rel=1e-6)
    assert extra == pytest.approx((cv * n * p) ** 2 * (1 - p), rel=0.01)
    assert extra <= (cv * n * p) ** 2


@pytest.mark.parametrize("cv", [0.008, 0.028, 0.09])
def test_a_split_count_has_one_most_likely_share(cv):
    """The likelihood of a drug counted in 10% of 33,203 opioid deaths (methadone, VSRR
    2015) over the share p has one maximum. A concentration (1 - p) / (p cv^2) had a
    second near p = 1, where the beta-binomial turned diffuse: chains of the 2015
    back-test fit stuck there (docs/models/certified.md, "Version 3")."""
    from scipy import stats

    from burden.models.certified import split_beta_parameters

    n, k = 33_203, 3_309
    p = 1 / (1 + np.exp(-np.linspace(-8, 12, 4001)))
    a, b = split_beta_parameters(p, 1 - p, cv**2)
    loglik = stats.betabinom.logpmf(k, n, a, b)
    assert np.isfinite(loglik).all()
    peaks = np.flatnonzero((loglik[1:-1] > loglik[:-2]) & (loglik[1:-1] > loglik[2:])) + 1
    assert len(peaks) == 1 and p[peaks[0]] == pytest.approx(k / n, abs=0.01)
    # the old concentration does have the second maximum, so this test can fail
    old = stats.betabinom.logpmf(k, n, (1 - p) / cv**2, (1 - p) ** 2 / (p * cv**2))
    ok = np.isfinite(old[1:-1]) & np.isfinite(old[:-2]) & np.isfinite(old[2:])
    old_peaks = np.flatnonzero(ok & (old[1:-1] > old[:-2]) & (old[1:-1] > old[2:]))
    assert len(old_peaks) >= 2


@pytest.mark.realdata
def test_prior_worlds_never_count_a_drug_above_all_opioids(certified_tables,
                                                          interpreted_graphs):
    """The split (version 3) makes a world where a drug is counted more often than all
    opioids impossible; with drugs counted apart (version 2) such worlds are common."""
    import warnings

    import pymc as pm

    from burden.models.certified import CertifiedDeaths, observation_rows, split_partner

    excess = {}
    for layout in ("split", "independent"):
        est = CertifiedDeaths(model_config={"drug_counts": layout, "first_year": 2013})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            data = est.prepare_data(certified_tables)
            model = est.build_model(data)
            with model:
                pred = pm.sample_prior_predictive(100, random_seed=1)["prior_predictive"]
        obs = est.inputs(data).obs
        values = np.full((100, len(obs)), np.nan)
        for name, rows in observation_rows(obs, layout).items():
            if name != "reported_lower_bound":
                values[:, rows] = pred[name].isel(chain=0).values
        partner = split_partner(obs)
        drug = np.flatnonzero(partner >= 0)
        excess[layout] = int((values[:, drug] > values[:, partner[drug]]).sum())
    assert excess["split"] == 0
    assert excess["independent"] > 0
