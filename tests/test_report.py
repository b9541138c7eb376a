"""The HTML report: every figure, number, citation and licence is on the page and every link
resolves; failed convergence is flagged at the top; text from data is escaped."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from burden.data.loaders.reference import REFERENCE_SOURCES
from burden.plots._common import interval_text
from burden.registry.sources import SOURCES
from burden.report import build
from burden.report.collect import collect_inputs
from burden.report.figures import figure_specs
from burden.report.inputs import ReportInputs
from burden.report.provenance import ModelProvenance, raw_file_hashes
from burden.report.synthetic import synthetic_inputs

ROOT = Path(__file__).resolve().parents[1]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def _links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A report built once from synthetic inputs (all models converged)."""
    out = tmp_path_factory.mktemp("report")
    inputs = synthetic_inputs(seed=1)
    path = build.build_report(inputs, out)
    return inputs, path, path.read_text(encoding="utf-8")


def test_every_figure_is_on_the_page_and_its_files_exist(built):
    _, path, html = built
    links = _links(html)
    figures = [f.id for f in figure_specs(synthetic_inputs(seed=1), build.ReportOptions())]
    assert len(links.imgs) == len(figures)
    for fid in figures:
        assert f'src="figures/{fid}.png"' in html
    for src in links.imgs:
        assert (path.parent / src).stat().st_size > 0
    local = [h for h in links.hrefs if not h.startswith(("http", "#"))]
    assert any(h.endswith(".svg") for h in local) and any(h.endswith(".csv") for h in local)
    for href in local:
        assert (path.parent / href).exists(), href
    anchors = {h[1:] for h in links.hrefs if h.startswith("#")}
    assert all(f'id="{a}"' in html for a in anchors)


def test_key_numbers_with_intervals_are_on_the_page(built):
    inputs, path, html = built
    ds = inputs.deaths_summary
    year = int(inputs.tables["gbd_deaths"]["year"].max())
    row = ds[(ds["location_id"] == "WLD") & (ds["measure"] == "deaths")
             & (ds["year"] == year)].iloc[0]
    assert interval_text(row["mean"], row["lower"], row["upper"]) in html
    key = pd.read_csv(path.parent / "tables" / "key_numbers.csv")
    assert len(key) >= 5
    for value in key["value"]:
        assert value in html


def _markets_only(seed: int) -> ReportInputs:
    """Inputs with only the market shares: one quick figure."""
    full = synthetic_inputs(seed=seed)
    return ReportInputs(market_summary=full.market_summary,
                        tables={"signature_shares": full.tables["signature_shares"]})


def test_prior_driven_numbers_are_marked(tmp_path):
    inputs = _markets_only(2)
    ms = inputs.market_summary
    ms["prior_driven"] = True
    html = build.build_report(inputs, tmp_path).read_text()
    assert "mostly from prior assumptions" in html
    ms["prior_driven"] = False
    html = build.build_report(inputs, tmp_path).read_text()
    assert "mostly from prior assumptions" not in html


def test_every_source_citation_and_licence_is_on_the_page(built):
    inputs, _, html = built
    used = {s for t in inputs.tables.values() for s in t["source"].unique()}
    known = {**SOURCES, **REFERENCE_SOURCES}
    assert used <= set(known)
    for sid in used:
        src = known[sid]
        assert f'id="source-{sid}"' in html
        for text in (src.citation, src.licence, src.title):
            assert escape(text) in html
    for publication in inputs.tables["signature_shares"]["publication"].unique():
        assert publication in html


def test_text_from_data_is_escaped(built):
    _, _, html = built
    # the synthetic reference table cites "Synthetic publication <b>A</b> & co"
    assert "Synthetic publication &lt;b&gt;A&lt;/b&gt; &amp; co" in html
    assert "<b>A</b>" not in html


def test_script_in_a_region_name_is_not_executed(tmp_path):
    inputs = _markets_only(3)
    ms = inputs.market_summary
    ms["source_region"] = ms["source_region"].replace(
        "mexico", "<script>alert(1)</script>")
    ms.loc[ms["source_region"].str.startswith("<script"), "mean"] = 0.99
    html = build.build_report(inputs, tmp_path).read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_failure_banner_when_all_models_converged(built):
    _, _, html = built
    assert "did NOT converge" not in html
    assert html.count('class="banner danger"') == 1  # only the synthetic-data banner


def test_failed_convergence_is_flagged_at_the_top(tmp_path):
    full = synthetic_inputs(seed=4, converged=False)
    inputs = ReportInputs(us_correction=full.us_correction, models=full.models)
    html = build.build_report(inputs, tmp_path).read_text()
    banner = html.index("Model &#39;deaths&#39; did NOT converge")
    assert banner < html.index("<h1>")
    assert "12 divergent transitions" in html
    # each key number from that model carries the warning too
    key = pd.read_csv(tmp_path / "tables" / "key_numbers.csv")
    assert (key.loc[key["model"] == "deaths", "model_status"] == "NOT CONVERGED").all()
    assert html.count("did not converge: do not use") == (key["model"] == "deaths").sum()
    conv = pd.read_csv(tmp_path / "tables" / "convergence.csv")
    assert not conv.loc[conv["model"] == "deaths", "ok"].all()


def test_missing_parts_are_shown_not_hidden(tmp_path):
    full = synthetic_inputs(seed=5)
    inputs = ReportInputs(production_summary=full.production_summary,
                          production_total=full.production_total,
                          tables={"production_measurements":
                                  full.tables["production_measurements"]},
                          missing={"deaths model": "models/deaths.nc not found"})
    path = build.build_report(inputs, tmp_path)
    html = path.read_text()
    assert "Not available: deaths model (models/deaths.nc not found)" in html
    assert html.count("Not available: models/deaths.nc not found.") == 7
    assert (tmp_path / "figures" / "production.png").exists()
    assert not (tmp_path / "figures" / "deaths_world.png").exists()


def test_tables_and_vector_figures_are_written(built):
    _, path, _ = built
    out = path.parent
    for name in ("key_numbers", "deaths_summary", "us_correction", "production_summary",
                 "market_shares", "attribution", "sensitivity", "convergence"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    assert pngs == svgs and len(pngs) >= 15


def test_provenance_lists_versions_seeds_and_hashes(built):
    inputs, _, html = built
    for package in ("pymc", "arviz", "nutpie", "numpy", "pandas"):
        assert f"<th>{package}</th>" in html
    for model in inputs.models.values():
        prov = model.provenance
        assert f"<code>{prov.random_seed}</code>" in html
        for digest in prov.input_hashes.values():
            assert digest in html
    for src in SOURCES.values():
        assert src.sha256 in html


def test_model_provenance_reads_saved_attrs():
    attrs = {"model_type": "opium_production", "random_seed": "20171",
             "sampler_config": json.dumps({"draws": 10}),
             "convergence": json.dumps({"converged": False, "r_hat_max": 1.2})}
    prov = ModelProvenance.from_attrs("production", "models/production.nc", attrs)
    assert prov.status == "NOT CONVERGED" and prov.sampler_config == {"draws": 10}
    assert ModelProvenance.from_attrs("x", "p", {}).status == "not checked"


@pytest.mark.realdata
def test_raw_file_hashes_match_the_registry(raw_file, tmp_path):
    path = raw_file("nida_deaths")
    shutil.copy(path, tmp_path / path.name)
    (tmp_path / SOURCES["nida_rates"].filename).write_text("not the real file")
    table = raw_file_hashes(tmp_path).set_index("source")
    assert table.loc["nida_deaths", "status"] == "matches registry"
    assert table.loc["nida_rates", "status"] == "DIFFERS from registry"
    assert table.loc["worldbank_population", "status"] == "not on disk"


def _script():
    spec = importlib.util.spec_from_file_location("build_report",
                                                  ROOT / "reports" / "build_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_refuses_missing_models_unless_allowed(tmp_path, capsys):
    script = _script()
    args = ["--models", str(tmp_path / "none"), "--processed", str(tmp_path / "none"),
            "--raw", str(tmp_path), "--out", str(tmp_path / "out")]
    assert script.main(args) == 2
    assert "deaths.nc not found" in capsys.readouterr().err
    assert script.main([*args, "--allow-missing"]) == 0
    assert (tmp_path / "out" / "index.html").exists()


@pytest.mark.slow
def test_script_demo_builds_a_flagged_page(tmp_path):
    assert _script().main(["--demo", "--out", str(tmp_path)]) == 0
    assert "SYNTHETIC DEMONSTRATION DATA" in (tmp_path / "index.html").read_text()


@pytest.fixture(scope="module")
def small_fits(tmp_path_factory):
    """Small real fits, saved like `make models` saves them: OpiumProduction and
    MarketShares on the packaged reference tables (real published figures), OpioidDeaths
    on the 18-country world of burden.models.deaths_sim with random counts. Tiny samplers:
    they are expected not to converge, which the report must say."""
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.models import markets as markets_fit
    from burden.models.deaths import OpioidDeaths
    from burden.models.deaths_sim import template_tables
    from burden.models.production import OpiumProduction

    root = tmp_path_factory.mktemp("fits")
    processed, models = root / "processed", root / "models"
    processed.mkdir()
    tables = {}
    for sid, name in (("reference_opium_production", "production_measurements"),
                      ("reference_heroin_signature", "signature_shares")):
        src = reference.REFERENCE_SOURCES[sid]
        tables[name] = reference.load(src.path, CleaningLog(src.id, src.filename), src.id)
        tables[name].to_parquet(processed / f"{name}.parquet", index=False)
    table = tables["production_measurements"]
    tiny = {"draws": 40, "tune": 60, "chains": 2, "random_seed": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # data notes and (expected) ConvergenceWarnings
        production = OpiumProduction(sampler_config=tiny)
        production.fit({"production_measurements": table}, progressbar=False)
        production.save(models / "production.nc")
        markets_fit.fit_from_processed(processed, models / "markets.nc",
                                       production_path=models / "production.nc",
                                       sampler_config=tiny, progressbar=False)
        markets = markets_fit.MarketShares.load(models / "markets.nc")
        # the simulator's 18-country world, with random counts in place of its
        # placeholders (a prior-predictive simulation would cost another compile)
        sim = template_tables()
        rng = np.random.default_rng(3)
        for name in ("gbd_deaths", "us_deaths_by_drug"):
            sim[name]["value"] = rng.lognormal(6.0, 1.0, len(sim[name]))
        vsrr = sim["us_provisional"]
        counts = vsrr["indicator"] != "percent_specified"
        vsrr.loc[counts, "value"] = rng.lognormal(9.0, 0.3, int(counts.sum()))
        deaths = OpioidDeaths(sampler_config=tiny)
        deaths.fit(sim, progressbar=False)
        deaths.save(models / "deaths.nc")
        for name in OpioidDeaths.data_tables:
            sim[name].to_parquet(processed / f"{name}.parquet", index=False)
        inputs = collect_inputs(models, processed)
    return {"production": production, "deaths": deaths, "markets": markets}, inputs, root


@pytest.mark.slow
def test_report_from_small_fits(small_fits):
    fits, inputs, root = small_fits
    assert set(inputs.missing) == {"attribution"}
    html = build.build_report(inputs, root / "out").read_text()
    for fid in ("deaths_world", "deaths_regions", "country_ranking", "us_correction",
                "production", "production_shares", "market_shares", "ppc", "convergence",
                "data_coverage"):
        assert (root / "out" / "figures" / f"{fid}.png").exists(), fid
    for name, model in fits.items():
        converged = json.loads(model.idata.attrs["convergence"])["converged"]
        assert (f"Model &#39;{name}&#39; did NOT converge" in html) is (not converged)
        assert inputs.models[name].ppc["observed"].notna().all()
    assert "reference_opium_production" in html
    # the markets' route priors are stated with their citations
    for citation in fits["markets"].assumptions()["citation"].unique():
        assert str(escape(citation)) in html
    # published signature shares land on the model's regions in the plotted data
    plotted = pd.read_csv(root / "out" / "tables" / "figure_market_shares.csv")
    published = plotted[plotted["layer"] == "observed"]
    assert set(published["source_region"]) & set(inputs.market_summary["source_region"])
    # the world's key number is the model's own summary, with its interval
    world = fits["deaths"].summary("world")
    year = int(inputs.tables["gbd_deaths"]["year"].max())
    r = world[(world["measure"] == "deaths") & (world["year"] == year)].iloc[0]
    assert interval_text(r["mean"], r["lower"], r["upper"]) in html

def test_backtest_scored_table_becomes_groups_by_kind_and_year():
    from burden.report.collect import DEATHS_BACKTEST_LEVEL, backtest_table

    scored = pd.DataFrame({"location_id": ["USA", "CAN", "USA"], "year": [2015, 2015, 2016],
                           "value": [10.0, 5.0, 12.0],
                           "latent_lower": [9.0, 6.0, 1.0], "latent_upper": [11.0, 7.0, 2.0],
                           "predictive_lower": [8.0, 4.0, 11.0],
                           "predictive_upper": [12.0, 6.0, 13.0]})
    long = backtest_table(scored)
    assert len(long) == 6 and (long["nominal"] == DEATHS_BACKTEST_LEVEL).all()
    from burden import plots

    cov = plots.backtest_coverage_data(long).set_index("group")
    assert cov.loc["deaths, latent, 2015", "coverage"] == 0.5
    assert cov.loc["deaths, predictive, 2015", "coverage"] == 1.0
    assert cov.loc["deaths, latent, 2016", "covered"] == 0
    with pytest.raises(ValueError, match="back-test table"):
        backtest_table(scored.drop(columns=["value"]))


def test_cli_entry_point_names_missing_models(tmp_path, monkeypatch):
    """``burden report`` calls build_report(out_dir=...): inputs come from the project."""
    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    with pytest.raises(build.MissingInputsError, match="deaths.nc not found"):
        build.build_report(out_dir=tmp_path / "out")


def test_attribution_file_summary_skips_us_years_without_data(tmp_path):
    import xarray as xr

    from burden.report.collect import attribution_summary_from_file

    rng = np.random.default_rng(0)
    coords = {"chain": [0], "draw": range(20), "source": ["AFG", "MEX"],
              "year": [2000, 2001]}
    world = xr.DataArray(rng.uniform(1, 2, (1, 20, 1, 2, 2)),
                         dims=("chain", "draw", "market", "source", "year"),
                         coords={**coords, "market": ["Africa"]})
    us = xr.DataArray(rng.uniform(1, 2, (1, 20, 2, 3, 2)),
                      dims=("chain", "draw", "supply_chain", "source", "year"),
                      coords={**coords, "supply_chain": ["heroin", "not_attributed"],
                              "source": ["AFG", "MEX", "none"]})
    us[..., 0] = 0.0  # 2000: no US data, zeros from aligning years
    xr.Dataset({"attributable_deaths": world, "us_attributable_deaths": us,
                "world_by_source": world.sum("market")}).to_netcdf(tmp_path / "a.nc")
    table = attribution_summary_from_file(tmp_path / "a.nc")
    assert set(table["market"]) == {"Africa", "USA", "World"}
    assert "none" not in set(table["source"])
    assert list(table.loc[table["market"] == "USA", "year"].unique()) == [2001]
    usa = table[(table["market"] == "USA") & (table["source"] == "MEX")].iloc[0]
    expected = us.sel(supply_chain="heroin", source="MEX", year=2001).values.ravel()
    assert usa["mean"] == pytest.approx(expected.mean())


def test_us_attribution_is_prior_driven_for_fentanyl_and_prior_driven_regions():
    from burden.report.numbers import _attribution_prior_driven

    ms = pd.DataFrame({"market": "USA", "source_region": ["southwest_asia", "mexico"],
                       "year": 2015, "mean": 0.5, "lower": 0.4, "upper": 0.6,
                       "prior_driven": [True, False]})
    inputs = ReportInputs(market_summary=ms, attribution_summary=pd.DataFrame(
        columns=["market", "source", "year", "mean", "lower", "upper"]))
    assert _attribution_prior_driven(inputs, "USA", "AFG", 2015)  # region share from prior
    assert _attribution_prior_driven(inputs, "USA", "MEX", 2015)  # fentanyl split assumed
    assert not _attribution_prior_driven(inputs, "USA", "COL", 2015)  # no flag for its region
