"""Back-test scoring, the scored-table schema and manifest, and the report's back-test
section (with and without results). Synthetic draws: no model is fitted here."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from burden.report import build
from burden.report.backtests import BACKTESTS, backtest_context, read_backtests
from burden.report.synthetic import synthetic_inputs
from burden.validate import scoring

MANIFEST = {"backtest": "certified", "run_utc": "2026-11-29T21:00:00+00:00",
            "command": "burden backtest certified", "seeds": [1, 2, 3],
            "cuts": [2012, 2015], "converged": {}, "draws": 2000, "load": ["1.00"]}


def test_crps_of_a_normal_sample_matches_the_closed_form():
    # Gneiting & Raftery (2007), JASA 102(477), eq. 21: CRPS(N(mu, s), y) =
    # s (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)), z = (y - mu) / s
    draws = np.random.default_rng(0).normal(0.0, 2.0, 40_000)
    for y in (0.0, 1.0, -3.0):
        z = y / 2.0
        phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        exact = 2.0 * (z * (2 * cdf - 1) + 2 * phi - 1 / math.sqrt(math.pi))
        assert scoring.crps_from_draws(draws, y) == pytest.approx(exact, rel=0.02)


def _scored(rng, n_years=400, shift=0.0):
    """Rows scored like a back-test: truth drawn from the model's own predictive
    distribution (calibrated) and a baseline centred ``shift`` sds away."""
    mu = rng.uniform(1_000, 50_000, n_years)
    sd = 0.1 * mu
    truth = rng.normal(mu, sd)
    model = rng.normal(mu[:, None], sd[:, None], (n_years, 1000))
    base = rng.normal((mu + 3 * sd)[:, None], sd[:, None], (n_years, 1000))
    cut = 2012
    year = cut + 1 + np.arange(n_years) % 4
    rows = []
    for name, draws in (("bayesian", model), ("arima", base)):
        lower, upper, covered, crps = scoring.score(draws, truth)
        rows.append(pd.DataFrame({
            "series": [f"S{i // 4}" for i in range(n_years)], "year": year,
            "value": np.abs(truth), "source": "synthetic", "model": name, "cut": cut,
            "horizon": year - cut, "seed": 1, "lower": lower, "upper": upper,
            "covered": covered, "crps": crps, "converged": True,
            "nominal": scoring.NOMINAL}))
    return pd.concat(rows, ignore_index=True)


def test_calibrated_draws_cover_about_nominal_and_beat_a_biased_baseline():
    table = _scored(np.random.default_rng(1))
    wide = scoring.by_horizon(table).set_index("horizon")
    assert list(wide.index) == [1, 2, 3, 4] and (wide["n"] == 100).all()
    cov = table.loc[table["model"] == "bayesian", "covered"].mean()
    # 400 rows: a 90% interval covers 0.90 +- 3 binomial sds (0.045)
    assert 0.855 <= cov <= 0.945
    # a baseline 3 sds off covers almost nothing and scores far worse
    assert (wide["coverage_arima"] < 0.3).all()
    assert (wide["skill_vs_arima"] > 0.5).all()
    assert wide.loc[1, "crps_bayesian"] == pytest.approx(
        table.query("model == 'bayesian' and horizon == 1")["crps"].mean())
    # a second seed scoring the same series-years pools the scores but not n
    again = pd.concat([table, table.assign(seed=2, crps=table["crps"] * 3)])
    pooled = scoring.by_horizon(again).set_index("horizon")
    assert (pooled["n"] == 100).all()
    assert pooled.loc[1, "crps_bayesian"] == pytest.approx(2 * wide.loc[1, "crps_bayesian"])


def test_scored_table_and_manifest_round_trip(tmp_path):
    table = _scored(np.random.default_rng(2), n_years=8)
    path = scoring.write_backtest(table, tmp_path / "certified_backtest.csv", MANIFEST)
    back, manifest = scoring.read_backtest(path)
    assert manifest["seeds"] == [1, 2, 3] and manifest["run_utc"] == MANIFEST["run_utc"]
    assert len(back) == len(table) and back["covered"].dtype == bool


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.assign(covered=~t["covered"]), "covered"),
    (lambda t: t.assign(horizon=t["horizon"] + 1), "horizon"),
    (lambda t: t.assign(crps=-t["crps"]), "crps"),
    (lambda t: pd.concat([t, t.iloc[:1]], ignore_index=True), "unique"),
])
def test_schema_rejects_inconsistent_rows(tmp_path, edit, message):
    table = edit(_scored(np.random.default_rng(3), n_years=8))
    with pytest.raises(pandera.errors.SchemaErrors, match=message):
        scoring.write_backtest(table, tmp_path / "t.csv", MANIFEST)


def test_a_table_without_its_manifest_is_refused(tmp_path):
    path = scoring.write_backtest(_scored(np.random.default_rng(4), n_years=8),
                                  tmp_path / "certified_backtest.csv", MANIFEST)
    scoring.manifest_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="manifest"):
        scoring.read_backtest(path)
    with pytest.raises(ValueError, match="seeds"):
        scoring.write_backtest(_scored(np.random.default_rng(4), n_years=8), path,
                               {k: v for k, v in MANIFEST.items() if k != "seeds"})


def test_report_shows_backtest_results_by_horizon_with_their_date(tmp_path):
    models = tmp_path / "models"
    table = _scored(np.random.default_rng(5), n_years=40)
    table.loc[(table["model"] == "bayesian") & (table["year"] == 2013), "converged"] = False
    scoring.write_backtest(table, models / BACKTESTS[0].filename, MANIFEST)
    inputs = synthetic_inputs(seed=1)
    inputs.backtests = read_backtests(models)
    html = build.build_report(inputs, tmp_path / "out").read_text(encoding="utf-8")
    ctx = backtest_context(inputs.backtests)[0]
    wide = scoring.by_horizon(table).set_index("horizon")
    assert [r["horizon"] for r in ctx["rows"]] == [1, 2, 3, 4]
    assert ctx["rows"][0]["coverage"] == f"{wide.loc[1, 'coverage_bayesian']:.2f}"
    assert ctx["rows"][0]["skill"] == [f"{wide.loc[1, 'skill_vs_arima']:+.2f}"]
    assert "Run 2026-11-29T21:00:00+00:00" in html and "seeds 1, 2, 3" in html
    assert "did not converge: 2012 (seed 1)" in html
    assert f"<td class=\"num\">{ctx['rows'][0]['skill'][0]}</td>" in html
    assert (tmp_path / "out" / BACKTESTS[0].filename).exists()  # the page links its rows
    # only the back-tests without a table say so (with the command that makes them)
    assert html.count("No back-test results") == len(BACKTESTS) - 1
    assert all(spec.command in html for spec in BACKTESTS[1:])


def test_report_says_plainly_when_no_backtest_results_exist(tmp_path):
    inputs = synthetic_inputs(seed=1)
    inputs.backtests = read_backtests(tmp_path)  # an empty models folder
    html = build.build_report(inputs, tmp_path / "out").read_text(encoding="utf-8")
    assert "No back-test results" in html and "burden backtest certified" in html
    assert "Run 20" not in html
    json.dumps(backtest_context(inputs.backtests))  # plain data for the template


def test_projections_are_cut_past_the_configured_years():
    from burden.errors import ConfigError
    from burden.models.certified import CertifiedConfig, within_projection

    last = {"USA:any_opioid": 2023, "CAN:any_opioid": 2024}
    series = ["USA:any_opioid"] * 3 + ["CAN:any_opioid"] * 2
    years = [2022, 2023, 2024, 2024, 2025]
    assert within_projection(series, years, last, 0).tolist() == [True, True, False,
                                                                  True, False]
    assert within_projection(series, years, last, 1).all()
    assert CertifiedConfig().projection_years == 0
    with pytest.raises(ConfigError):
        CertifiedConfig(projection_years=-1)
