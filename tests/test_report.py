"""The HTML report: every figure, number, citation and licence is on the page and every link
resolves; failed convergence is flagged at the top; text from data is escaped."""

from __future__ import annotations

import dataclasses
import json
import shutil
from html.parser import HTMLParser

import pandas as pd
import pytest
import xarray as xr
from markupsafe import escape

from burden.plots._common import interval_text
from burden.registry.published import REFERENCE_SOURCES
from burden.registry.sources import SOURCES
from burden.report import build
from burden.report.collect import collect_inputs
from burden.report.figures import figure_specs
from burden.report.inputs import ReportInputs
from burden.report.provenance import ModelProvenance, raw_file_hashes
from burden.report.synthetic import synthetic_inputs


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
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
    assert figures and len(links.imgs) == len(figures)
    for fid in figures:
        assert f'src="figures/{fid}.png"' in html
    for src in links.imgs:
        assert (path.parent / src).stat().st_size > 0
    local = [h for h in links.hrefs if not h.startswith(("http", "#"))]
    assert any(h.endswith(".svg") for h in local) and any(h.endswith(".csv") for h in local)
    for href in local:
        assert (path.parent / href).exists(), href
    anchors = {h[1:] for h in links.hrefs if h.startswith("#")}
    assert anchors  # the page has a table of contents: internal links to check
    missing = sorted(a for a in anchors if f'id="{a}"' not in html)
    assert not missing, missing


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



def _certified_results(fit, folder) -> dict:
    """The manifest of synthetic certified result tables written for ``fit`` in ``folder``."""
    from burden.summarise import write_results

    tables = synthetic_inputs(seed=5)
    frames = {"summary": tables.certified_summary,
              "us_correction": tables.certified_correction,
              **{k: getattr(tables.models["deaths"], k) for k in
                 ("diagnostics", "ppc", "loo_pit", "prior_sensitivity")}}
    return json.loads(write_results("certified", frames, {}, fit, folder).read_text())

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
    assert used  # else the loop below checks nothing
    assert used <= set(known)
    for sid in used:
        src = known[sid]
        assert f'id="source-{sid}"' in html
        for text in (src.citation, src.licence, src.title):
            assert escape(text) in html
    publications = inputs.tables["signature_shares"]["publication"].unique()
    assert len(publications) > 0
    for publication in publications:
        assert escape(publication) in html


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
    inputs = ReportInputs(deaths_summary=full.deaths_summary, models=full.models)
    html = build.build_report(inputs, tmp_path).read_text()
    banner = html.index("Model &#39;deaths&#39; did NOT converge")
    assert banner < html.index("<h1>")
    assert "12 divergent transitions" in html
    # each key number from that model carries the warning too
    key = pd.read_csv(tmp_path / "tables" / "key_numbers.csv")
    assert (key["model"] == "deaths").any()  # else the two checks below pass on nothing
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
                          missing={"deaths results": "models/deaths/manifest.json not found"})
    path = build.build_report(inputs, tmp_path)
    html = path.read_text()
    assert "Not available: deaths results (models/deaths/manifest.json not found)" in html
    # the six deaths figures (world, super-regions, regions, countries, rates, ranking)
    # each say why they are missing; the US correction comes from the certified fit
    assert html.count("Not available: models/deaths/manifest.json not found.") == 6
    assert "Not available: no certified results." in html
    # no back-test: the Back-tests section says so, and no empty coverage figure repeats it
    assert "Back-test coverage" not in html and 'id="backtests"' in html
    assert (tmp_path / "figures" / "production.png").exists()
    assert not (tmp_path / "figures" / "deaths_world.png").exists()


def test_tables_and_vector_figures_are_written(built):
    _, path, _ = built
    out = path.parent
    for name in ("key_numbers", "deaths_summary", "us_correction", "production_summary",
                 "market_shares", "attribution", "sensitivity", "attribution_markets",
                 "convergence"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    assert pngs == svgs and len(pngs) >= 15


def test_provenance_lists_versions_seeds_and_hashes(built):
    inputs, _, html = built
    for package in ("pymc", "arviz", "nutpie", "numpy", "pandas"):
        assert f"<th>{package}</th>" in html
    assert inputs.models
    for model in inputs.models.values():
        prov = model.provenance
        assert prov.input_hashes  # each model names the inputs it was fitted on
        assert f"<code>{prov.random_seed}</code>" in html
        for digest in prov.input_hashes.values():
            assert digest in html
        # synthetic fits record no compute environment (saved fits do: the pipeline test)
        assert not prov.compute_environment
    assert "<th>compute environment</th><td>not recorded</td>" in html
    for src in SOURCES.values():
        assert src.sha256 in html


def test_model_provenance_reads_saved_attrs():
    attrs = {"model_type": "opium_production", "random_seed": "20171",
             "sampler_config": json.dumps({"draws": 10}),
             "convergence": json.dumps({"converged": False, "r_hat_max": 1.2})}
    prov = ModelProvenance.from_attrs("production", "models/production.nc", attrs)
    assert prov.status == "NOT CONVERGED" and prov.sampler_config == {"draws": 10}
    assert ModelProvenance.from_attrs("x", "p", {}).status == "not checked"
    assert ModelProvenance.from_attrs("x", "p", {}).compute_environment == {}


@pytest.mark.realdata
def test_raw_file_hashes_match_the_registry(raw_file, tmp_path):
    path = raw_file("nida_deaths")
    shutil.copy(path, tmp_path / path.name)
    (tmp_path / SOURCES["nida_rates"].filename).write_text("not the real file")
    table = raw_file_hashes(tmp_path).set_index("source")
    assert table.loc["nida_deaths", "status"] == "matches registry"
    assert table.loc["nida_rates", "status"] == "DIFFERS from registry"
    assert table.loc["worldbank_population", "status"] == "not on disk"


def test_cli_refuses_missing_results_unless_allowed(tmp_path, monkeypatch, capsys):
    from burden.cli import main

    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    assert main(["report", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "deaths/manifest.json not found" in err and "burden summarise deaths" in err
    assert main(["report", "--allow-missing", "--out", str(tmp_path / "out")]) == 0
    assert "Not available" in (tmp_path / "out" / "index.html").read_text()


def test_cli_demo_builds_a_flagged_page(tmp_path):
    from burden.cli import main

    assert main(["report", "--demo", "--out", str(tmp_path)]) == 0
    assert "SYNTHETIC DEMONSTRATION DATA" in (tmp_path / "index.html").read_text()


def test_report_package_does_not_import_pymc():
    """The report renders result tables; it never loads a model (checked in a fresh
    interpreter: this test process has PyMC loaded already)."""
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys, burden.report\n"
            "for m in pkgutil.walk_packages(burden.report.__path__, 'burden.report.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('pymc', 'pytensor', 'nutpie')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_report_from_the_session_pipeline(pipeline):
    """The report built from the result tables ``burden summarise`` wrote for the session's
    fits (deaths on a simulated world, production and markets on the published figures)."""
    inputs = collect_inputs(pipeline.models, pipeline.processed)
    # the session pipeline fits no certified model (tests/test_certified.py fits it on the
    # real files): its part of the page says so
    assert set(inputs.missing) == {"certified results"}
    out = pipeline.root / "out"
    html = build.build_report(inputs, out).read_text()
    for fid in ("deaths_world", "deaths_regions", "country_ranking",
                "production", "production_shares", "market_shares", "loo_pit", "convergence",
                "data_coverage"):
        assert (out / "figures" / f"{fid}.png").exists(), fid
    # the attribution's markets: every country of the members table in one market, on the
    # page and written beside it
    members = pd.read_csv(out / "tables" / "attribution_markets.csv")
    assert members["location_id"].is_unique and len(members) > 0
    assert "Markets the attribution sums" in html
    # every fit's checks are on the page (composition's too: its shares enter through
    # attribution)
    assert set(inputs.models) == set(pipeline.fits)
    for name, model in pipeline.fits.items():
        converged = model.convergence_report()["converged"]
        assert (f"Model &#39;{name}&#39; did NOT converge" in html) is (not converged)
        assert inputs.models[name].ppc["observed"].notna().all()
        assert len(inputs.models[name].ppc) > 0
        # LOO-PIT: one value per observation, the same observations as the predictive check
        loo = inputs.models[name].loo_pit
        assert len(loo) == len(inputs.models[name].ppc)
        assert loo["pit"].between(0, 1).all() and loo["source"].notna().all()
        psense = inputs.models[name].prior_sensitivity
        assert len(psense) > 0 and (psense["prior_sensitivity"] >= 0).all()
        # the OpenBLAS kernel and numpy's SIMD targets the draws were made with, from the
        # saved fit through the summary's manifest (config.use_process_defaults;
        # storage.compute_environment)
        environment = inputs.models[name].provenance.compute_environment
        kernel, simd = environment["openblas_kernels"], environment["numpy_simd"]
        shown = f"OpenBLAS kernel {kernel}" + (f", numpy SIMD {simd}" if simd else "")
        assert kernel and f"{shown}</td>" in html, shown
    assert "<td>not recorded</td>" not in html
    assert "reference_opium_production" in html
    # the markets' route priors are stated with their citations
    citations = pipeline.fits["markets"].assumptions()["citation"].unique()
    assert len(citations) > 0
    for citation in citations:
        assert str(escape(citation)) in html
    # the attribution assumptions the report shows are the ones the attribution used
    assert "Attribution assumptions (as used)" in html
    # published signature shares land on the model's regions in the plotted data
    plotted = pd.read_csv(out / "tables" / "figure_market_shares.csv")
    published = plotted[plotted["layer"] == "observed"]
    # every conclusive published region is one of the model's (an intersection would pass
    # with one region mapped and the rest lost); "Inconclusive ..." rows stay apart
    conclusive = set(published["source_region"]) - {
        r for r in published["source_region"] if r.startswith("Inconclusive")}
    assert conclusive, sorted(set(published["source_region"]))
    assert conclusive <= set(inputs.market_summary["source_region"]), sorted(conclusive)
    # the world's key number is the saved model's own summary, with its interval
    from burden.fits import load_fit

    world = load_fit("deaths", pipeline.models).summary("world")
    year = int(inputs.tables["gbd_deaths"]["year"].max())
    r = world[(world["measure"] == "deaths") & (world["year"] == year)].iloc[0]
    assert interval_text(r["mean"], r["lower"], r["upper"]) in html


def test_result_tables_equal_the_models_own_summaries(pipeline):
    """What summarise wrote is what the fitted estimators say (read back through the
    report's reader, which validates every table against its schema)."""
    from burden.fits import load_fit
    from burden.report.collect import read_results

    manifest, frames = read_results("deaths", pipeline.models / "deaths")
    # the saved fit's (every bit of its draws; tests/test_storage.py)
    expected = load_fit("deaths", pipeline.models).summary()
    pd.testing.assert_frame_equal(frames["summary"], expected, check_dtype=False, rtol=1e-9)
    assert manifest["provenance"]["random_seed"] == pipeline.fits["deaths"].sampler_config.random_seed
    _, frames = read_results("markets", pipeline.models / "markets")
    pd.testing.assert_frame_equal(
        frames["summary"], pipeline.fits["markets"].summary(by="source_region"),
        check_dtype=False, rtol=1e-9)


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


def test_a_market_the_tables_lack_is_named_not_silently_replaced():
    from burden.report.choices import market_or_first

    table = pd.DataFrame({"market": ["USA", "Western Europe"]})
    assert market_or_first(table, "Western Europe") == "Western Europe"
    with pytest.warns(UserWarning, match="'Westen Europe' is not in this table; showing "
                                         "'USA' \\(markets: USA, Western Europe\\)"):
        assert market_or_first(table, "Westen Europe") == "USA"


def test_demo_report_goes_to_its_own_folder(tmp_path, monkeypatch):
    """``burden report --demo`` without --out writes reports/demo, never the pipeline's
    reports/output (make would take the demo for an up-to-date report)."""
    from burden import cli, config

    monkeypatch.setattr(config, "reports_dir", lambda: tmp_path / "reports" / "output")
    assert cli.main(["report", "--demo"]) == 0
    assert (tmp_path / "reports" / "demo" / "index.html").exists()
    assert not (tmp_path / "reports" / "output").exists()


def test_tables_of_a_fit_replaced_since_are_flagged(tmp_path):
    """A result folder records the hash of the saved fit it was written from; a fit saved
    over it afterwards (``burden fit`` without --write-results) is named in a warning."""
    from burden.report.collect import stale_source

    fit = tmp_path / "certified.nc"
    fit.write_bytes(b"first fit")
    manifest = _certified_results(fit, tmp_path)
    assert stale_source(manifest, tmp_path) is None
    fit.write_bytes(b"a fit made after the tables")
    assert "run `burden summarise certified`" in stale_source(manifest, tmp_path)
    assert stale_source({**manifest, "source_sha256": None}, tmp_path) is None
    # collected for the report: the tables are read and the note goes to its banner
    from burden.report.build import _banners as banners
    from burden.report.collect import collect_inputs

    inp = collect_inputs(tmp_path, tmp_path / "no_processed_tables")
    assert inp.certified_summary is not None
    assert "run `burden summarise certified`" in inp.notes["certified results"]
    assert any(b["text"].startswith("certified results: these tables were written from "
                                    "another certified.nc") for b in banners(inp))


def test_attribution_flags_prior_driven_rows():
    from burden.summarise import prior_driven_flags

    ms = pd.DataFrame({"market": "USA", "source_region": ["southwest_asia", "mexico"],
                       "year": 2015, "mean": 0.5, "lower": 0.4, "upper": 0.6,
                       "prior_driven": [True, False]})
    comp = xr.DataArray([[0.0]], dims=("market", "year"),
                        coords={"market": ["USA"], "year": [2015]})
    chains = ["illicit_opiate", "illicit_opiate", "illicit_synthetic", "not_attributed",
              "all", "all"]
    sources = ["AFG", "MEX", "MEX", "none", "MEX", "total"]
    summary = pd.DataFrame({"market": ["USA"] * 6 + ["World"] * 6,
                            "supply_chain": chains * 2, "source": sources * 2,
                            "year": 2015,
                            "mean": [10.0, 20.0, 30.0, 5.0, 50.0, 65.0,
                                     10.0, 20.0, 300.0, 50.0, 320.0, 380.0]})
    flags = prior_driven_flags(summary, ms, comp)
    assert flags[:6] == [True,  # AFG: its region's US share comes from the prior
                         False,  # MEX heroin: its region's share is data-driven
                         True,  # synthetic: the split by source is a prior
                         False,  # not attributed: the US composition is measured
                         True,  # MEX over all chains: one of its chains is prior-driven
                         False]  # the total is the deaths estimate
    # World: prior-driven when at least half of its mean comes from prior-driven rows
    assert flags[6:] == [True, False, False, False, False, False]
    # a market whose composition is prior-driven flags its not-attributed rows too
    comp_prior = comp.copy(data=[[1.0]])
    assert prior_driven_flags(summary, ms, comp_prior)[3] is True
    # a market the markets fit gives no shares of its own takes world production in
    # proportion (an assumption): its opiate rows are prior-driven, its measured
    # composition notwithstanding
    europe = summary.iloc[:2].assign(market="Western Europe")
    comp_eu = xr.DataArray([[0.0]], dims=("market", "year"),
                           coords={"market": ["Western Europe"], "year": [2015]})
    assert prior_driven_flags(europe, ms, comp_eu) == [True, True]



def test_forked_workers_draw_the_same_figures_as_one_process(tmp_path, monkeypatch):
    """``render_figures(workers=2)`` forks (where the process may), and the figures, their
    data twins and the results are those drawn in one process."""
    import warnings

    from matplotlib.figure import Figure

    from burden.report import figures
    from burden.report.choices import ReportOptions

    def spec(i):
        def data():
            return pd.DataFrame({"x": range(5), "y": [i * v for v in range(5)]})

        def plot(d):
            fig = Figure()
            fig.add_subplot().plot(d["x"], d["y"])
            return fig

        return figures._Spec(f"fig{i}", "checks", f"Figure {i}", "caption", (), data, plot)

    specs = [spec(i) for i in range(3)]
    monkeypatch.setattr(figures, "figure_specs", lambda inp, opt: specs)
    monkeypatch.setattr(figures, "_missing_reason", lambda inp, needs: "")
    # the test runner's threads would make it draw one by one: fork anyway (the figures
    # here take no lock)
    monkeypatch.setattr(figures, "_can_fork", lambda: True)
    out = {}
    for n in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            out[n] = figures.render_figures(None, ReportOptions(), tmp_path / str(n), workers=n)
    assert [(r.id, r.png, r.svg, r.csv) for r in out[1]] == \
        [(r.id, r.png, r.svg, r.csv) for r in out[2]]
    for r in out[2]:
        for rel in (r.png, r.svg, r.csv):
            assert (tmp_path / "2" / rel).stat().st_size > 0
        assert ((tmp_path / "2" / r.csv).read_text()
                == (tmp_path / "1" / r.csv).read_text())


def test_the_slowest_figures_are_drawn_first_and_the_page_keeps_its_order(tmp_path, monkeypatch):
    """``DRAWN_FIRST`` names real figures; they are drawn before the others (so a slow one
    does not run alone at the end), and the results, files and data twins stay in the
    page's order, each figure with its own data."""
    from matplotlib.figure import Figure

    from burden.report import figures
    from burden.report.choices import ReportOptions

    real = [f.id for f in figure_specs(synthetic_inputs(seed=1), build.ReportOptions())]
    assert set(figures.DRAWN_FIRST) <= set(real)

    ids = ["first_on_page", *reversed(figures.DRAWN_FIRST), "last_on_page"]
    drawn = []

    def spec(i, sid):
        def data():
            drawn.append(sid)
            return pd.DataFrame({"x": range(3), "figure": sid})

        def plot(d):
            fig = Figure()
            fig.add_subplot().plot(d["x"], d["x"] * i)
            return fig

        return figures._Spec(sid, "checks", sid, "caption", (), data, plot)

    specs = [spec(i, sid) for i, sid in enumerate(ids)]
    monkeypatch.setattr(figures, "figure_specs", lambda inp, opt: specs)
    monkeypatch.setattr(figures, "_missing_reason", lambda inp, needs: "")
    results = figures.render_figures(None, ReportOptions(), tmp_path, workers=1)
    assert drawn == [*figures.DRAWN_FIRST, "first_on_page", "last_on_page"]
    assert [r.id for r in results] == ids
    for r in results:
        assert r.csv == f"tables/figure_{r.id}.csv"
        assert set(pd.read_csv(tmp_path / r.csv)["figure"]) == {r.id}


def _counting_specs(calls: dict, values: dict, kwargs: dict | None = None,
                    keyed: bool = False):
    """Figures whose data twins are ``values[sid]`` and which count their plots (and, with
    ``keyed``, their data computations) in ``calls``."""
    from matplotlib.figure import Figure

    from burden.report import figures

    def spec(sid):
        def data():
            calls[f"data {sid}"] = calls.get(f"data {sid}", 0) + 1
            return pd.DataFrame({"x": range(3), "y": [values[sid] * v for v in range(3)]})

        def plot(d, **kw):
            calls[sid] = calls.get(sid, 0) + 1
            fig = Figure()
            fig.add_subplot().plot(d["x"], d["y"])
            return fig

        key = (lambda: str(values[sid]).encode()) if keyed else None
        return figures._Spec(sid, "checks", sid, "caption", (), data, plot,
                             dict((kwargs or {}).get(sid, {})), data_key=key)

    return [spec(sid) for sid in values]


@pytest.mark.parametrize("keyed", [False, True], ids=["data twin", "inputs key"])
def test_a_figure_is_redrawn_only_when_its_data_arguments_or_code_change(
        tmp_path, monkeypatch, keyed):
    """``make report`` draws the fits' figures while the attribution runs (`burden report
    --figures-only`) and the report keeps those unchanged: a figure is kept when its data
    twin (or, for a slow one, its inputs), its plot arguments, the resolution and the
    plotting code are those it was drawn with and its files are all there; anything else
    redraws it."""
    from burden.report import figures
    from burden.report.choices import ReportOptions

    calls: dict = {}
    values = {"a": 1, "b": 2}
    kwargs: dict = {"a": {}, "b": {}}
    monkeypatch.setattr(figures, "figure_specs",
                        lambda inp, opt: _counting_specs(calls, values, kwargs, keyed))
    monkeypatch.setattr(figures, "_missing_reason", lambda inp, needs: "")

    def render(**opt):
        calls.clear()
        res = figures.render_figures(None, ReportOptions(**opt), tmp_path, workers=1)
        return {r.id: r.drawn for r in res}

    assert render() == {"a": True, "b": True}
    first = (tmp_path / "figures/a.png").read_bytes()
    assert render() == {"a": False, "b": False}
    assert calls.get("a", 0) == calls.get("b", 0) == 0
    if keyed:  # the slow data twin is not even computed when its inputs are unchanged
        assert "data a" not in calls
    assert (tmp_path / "figures/a.png").read_bytes() == first
    values["b"] = 3  # new data for one figure
    assert render() == {"a": False, "b": True}
    assert pd.read_csv(tmp_path / "tables/figure_b.csv")["y"].tolist() == [0, 3, 6]
    kwargs["a"] = {"last_data_year": 2020}  # new plot arguments
    assert render() == {"a": True, "b": False}
    assert render(dpi=55) == {"a": True, "b": True}  # another resolution
    (tmp_path / "figures/b.svg").unlink()  # a file missing
    assert render(dpi=55) == {"a": False, "b": True}
    (tmp_path / "figures/a.sha256").write_text("0" * 64)  # another fingerprint
    assert render(dpi=55) == {"a": True, "b": False}
    # another program (an older `burden report`) replaced a file the stamp vouches for
    (tmp_path / "figures/b.png").write_bytes(first)
    assert render(dpi=55) == {"a": False, "b": True}
    assert (tmp_path / "figures/b.png").read_bytes() != first
    monkeypatch.setattr(figures, "_plotting_code", lambda: "other plotting code")
    assert render(dpi=55) == {"a": True, "b": True}
    assert not list(tmp_path.rglob("*.tmp"))  # each file written whole, then renamed


def test_the_code_fingerprint_covers_the_package_the_libraries_and_the_style(monkeypatch):
    """The figures' code fingerprint changes with any file of the package (the plots, the
    LOO-PIT bands' ``sbc_stats``, the sources' colours and labels in ``registry``, the
    convergence thresholds), a library's version and matplotlib's rcParams."""
    from importlib import metadata
    from pathlib import Path

    import matplotlib

    from burden.report import figures

    package = Path(figures.__file__).resolve().parent.parent
    before = figures._plotting_code()
    original = Path.read_bytes
    for rel in ("plots/loo_pit.py", "validate/sbc_stats.py", "registry/sources.py",
                "models/fast_diagnostics.py", "report/figures.py"):
        path = package / rel
        assert path.exists(), rel

        def changed(self, _path=path):
            data = original(self)
            return data + b"# changed" if self == _path else data

        monkeypatch.setattr(Path, "read_bytes", changed)
        assert figures._plotting_code() != before, rel
        monkeypatch.setattr(Path, "read_bytes", original)
    assert figures._plotting_code() == before
    real_version = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.0" if name == "scipy"
                        else real_version(name))
    assert figures._plotting_code() != before
    monkeypatch.setattr(metadata, "version", real_version)
    with matplotlib.rc_context({"font.size": matplotlib.rcParams["font.size"] + 1}):
        assert figures._plotting_code() != before
    assert figures._plotting_code() == before


def test_figures_only_draws_what_it_can_and_the_report_keeps_it(pipeline, tmp_path, capsys,
                                                                monkeypatch):
    """`burden report --figures-only` (what make runs beside the attribution) draws the
    figures of the results there are but the attribution's into a staging folder,
    touching neither the page nor its figures (an attribution that then fails leaves the
    old page whole); the report afterwards takes them over without drawing them again,
    draws the attribution's, and its figures and data twins are those of a report drawn
    from scratch."""
    from burden import cli
    from burden.report import build, figures

    # five of the real figures, three of the fits' and the attribution's two: three
    # reports of all of them took 33 s of the test pipeline's worker in CI (2026-12-05);
    # a figure keyed on its inputs (LOO-PIT's data_key) is tested above
    real = figures.figure_specs
    kept_ids = {"deaths_world", "production", "market_shares", "attributable_deaths",
                "attribution_sensitivity"}
    monkeypatch.setattr(figures, "figure_specs", lambda inp, opt: [
        spec for spec in real(inp, opt) if spec.id in kept_ids])
    out = tmp_path / "out"
    build.build_from_saved(out, models_dir=pipeline.models,
                           processed_dir=pipeline.processed, allow_missing=True)
    page = (out / "index.html").read_bytes()
    old = {p.name: p.read_bytes() for p in (out / "figures").glob("*.png")}
    for p in (out / "figures").glob("*.sha256"):
        p.unlink()  # as after an older `burden report`: nothing is current
    results = build.figures_from_saved(out, models_dir=pipeline.models,
                                       processed_dir=pipeline.processed, workers=1)
    staging = out / figures.STAGING
    drawn = {r.id for r in results if r.drawn}
    left = {r.id for r in results if r.unavailable.startswith("left to the report")}
    assert drawn and left == {"attributable_deaths", "attribution_sensitivity"}
    assert all((staging / f"figures/{sid}.sha256").exists() for sid in drawn)
    assert (out / "index.html").read_bytes() == page  # the page and its figures untouched
    assert {p.name: p.read_bytes() for p in (out / "figures").glob("*.png")} == old
    staged = {sid: (staging / f"figures/{sid}.png").stat().st_mtime_ns for sid in drawn}
    again = build.figures_from_saved(out, models_dir=pipeline.models,
                                     processed_dir=pipeline.processed, workers=1)
    assert not any(r.drawn for r in again)  # staged already: not drawn again
    assert {sid: (staging / f"figures/{sid}.png").stat().st_mtime_ns
            for sid in drawn} == staged
    build.build_from_saved(out, models_dir=pipeline.models, processed_dir=pipeline.processed,
                           allow_missing=True)
    # taken over, not drawn again (a rename keeps the file's time), the staging emptied
    assert {sid: (out / f"figures/{sid}.png").stat().st_mtime_ns for sid in drawn} == staged
    assert not list((staging / "figures").glob("*.png"))
    fresh = tmp_path / "fresh"
    build.build_from_saved(fresh, models_dir=pipeline.models,
                           processed_dir=pipeline.processed, allow_missing=True)
    for sid in drawn | left:
        assert ((out / f"tables/figure_{sid}.csv").read_bytes()
                == (fresh / f"tables/figure_{sid}.csv").read_bytes())
        assert ((out / f"figures/{sid}.png").read_bytes()
                == (fresh / f"figures/{sid}.png").read_bytes()), sid
    assert cli.main(["report", "--figures-only", "--demo"]) == 2
    assert "--demo" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "--figures-only", "--workers", "0"])
    assert exit_.value.code == 2
    assert "--workers: a whole number of at least 1, not '0'" in capsys.readouterr().err


def test_us_years_the_certified_counts_carry_are_not_called_projected():
    """The deaths fit reads US certified counts (NCHS final, VSRR December) past GBD's last
    year: the page calls US years projected only after the last of them."""
    inputs = synthetic_inputs(seed=1)
    assert build.projected_after(inputs) == "after 2017, the last year of GBD data"
    inputs.tables["us_provisional_national"] = pd.DataFrame(
        [{"location_id": "US", "year": y, "month": 12, "indicator": "any_opioid",
          "value": 1000.0} for y in (2018, 2019, 2020)])
    assert build.projected_after(inputs) == (
        "after 2017, the last year of GBD data; in the US after 2020, the last certified "
        "count (NCHS/VSRR) the fit reads")
    assert build.projected_after(dataclasses.replace(inputs, deaths_summary=None)) == ""


def test_key_numbers_name_the_deaths_each_place_counts():
    """Canada's counts are PHAC's apparent opioid toxicity deaths (coroners' and medical
    examiners' investigations), not certificates; the GBD estimand is opioid, not drug, use
    disorder deaths; the world rate is crude (GBD publishes age-standardised rates). The
    labels come from the registry, which the figures read too."""
    from burden.registry import estimands
    from burden.report.numbers import key_numbers

    numbers = key_numbers(synthetic_inputs(seed=1), build.ReportOptions())
    labels = [n.label for n in numbers]
    # a nowcast year is a whole year's estimate from part of it, and says so
    nowcasts = [n for n in numbers if n.note.startswith("nowcast")]
    assert nowcasts and all("the whole year estimated from the months counted so far"
                            in n.note for n in nowcasts)
    canada = [label for label in labels if label.startswith("Canada ")]
    assert canada and all("apparent opioid toxicity deaths (PHAC" in label
                          and "certificate definition" not in label for label in canada)
    us = [label for label in labels if label.startswith("US ")]
    assert us and all("death certificates" in label for label in us)
    rate = [label for label in labels if "per 100,000" in label]
    assert rate and all("crude death rate" in label and "not age-standardised" in label
                        for label in rate)
    gbd = estimands.get("gbd_use_disorder")
    assert gbd.counted_at("CAN") == gbd.counted_at() == (
        "deaths due to opioid use disorders (GBD definition)")
    assert all("due to opioid use disorders (GBD definition)" in label for label in rate)


def test_the_gbd_estimand_has_one_title_on_axes_and_captions():
    """The registry's title of GBD's estimand is the one the axes, the deaths captions, the
    attribution captions and the back-test's title print (no second wording such as "Opioid
    use disorder deaths (GBD)" beside "Opioid use-disorder deaths (GBD definition)")."""
    from burden.plots._common import estimand_label
    from burden.plots.deaths import MEASURE_LABELS
    from burden.registry import estimands
    from burden.report.backtests import BACKTESTS

    title = estimands.get("gbd_use_disorder").name
    assert title == "Opioid use-disorder deaths (GBD definition)"
    assert estimand_label("gbd_use_disorder") == title
    assert MEASURE_LABELS["deaths"].replace("\n", " ") == title
    assert MEASURE_LABELS["rate_per_100k"].replace("\n", " ") == (
        "Opioid use-disorder deaths per 100,000 (crude rate, GBD definition)")
    specs = {s.id: s for s in figure_specs(synthetic_inputs(seed=1), build.ReportOptions())}
    for sid in ("deaths_world", "deaths_countries", "attributable_deaths",
                "attribution_sensitivity"):
        assert specs[sid].caption.startswith(title) and specs[sid].caption.count(title) == 1
    assert "hold no GBD world totals" in specs["deaths_world"].caption  # synthetic: none
    assert specs["rates_countries"].caption.startswith(
        "Opioid use-disorder deaths per 100,000 population (crude rate, GBD definition)")
    assert any(b.title.startswith(title) for b in BACKTESTS)


def _with_gbd_rounds(inputs: ReportInputs) -> ReportInputs:
    """``inputs`` whose gbd_deaths table holds two rounds over every year (country and
    world rows; the 2019 round a fifth lower), as the processed table does, and whose deaths
    fit's prior sensitivity finds a prior-data conflict for the world's last data year."""
    gbd = inputs.tables["gbd_deaths"]
    world = (gbd.groupby("year", as_index=False)["value"].sum()
             .assign(location_id="WLD", location_name="World", location_level="world",
                     cause="opioid_use_disorders", measure="deaths"))
    both = pd.concat([gbd, world], ignore_index=True)
    inputs.tables["gbd_deaths"] = pd.concat(
        [both.assign(gbd_round=2017, source="owid_gbd_deaths"),
         both.assign(gbd_round=2019, source="owid_gbd2019_deaths",
                     value=both["value"] * 0.8)], ignore_index=True)
    year = int(gbd["year"].max())
    inputs.models["deaths"].prior_sensitivity = pd.DataFrame({
        "model": "deaths", "quantity": [f"World deaths {year}",
                                        f"USA deaths {year} (GBD definition)"],
        "mean": 1.0, "prior_sensitivity": [0.071, 0.01],
        "likelihood_sensitivity": [0.397, 0.2],
        "diagnosis": ["prior-data conflict", "ok"],
        "largest_prior": ["round_bias_sd", "sigma_gbd"],
        "largest_prior_sensitivity": [0.038, 0.004]})
    return inputs


def test_gbd_definition_numbers_show_the_published_round_and_their_estimand(tmp_path):
    """Beside each GBD-definition key number: the latest GBD round's published value for
    that place and year and the last revision, from the processed table, with their
    sources; a sentence on the estimand; the prior sensitivity table's diagnosis of the
    same output (a conflict is flagged on the number); the part from a prior named. The
    deaths summary has no prior-driven flag: not assessed (blank), not False."""
    from burden.report.numbers import key_numbers

    inputs = _with_gbd_rounds(synthetic_inputs(seed=1))
    inputs.attribution_summary["definition"] = "gbd_use_disorder"  # as summarise writes it
    gbd = inputs.tables["gbd_deaths"]
    year = int(gbd["year"].max())
    numbers = {n.label: n for n in key_numbers(inputs, build.ReportOptions())}
    world = numbers[f"World deaths due to opioid use disorders (GBD definition), {year}"]
    us = numbers[f"United States deaths due to opioid use disorders (GBD definition), {year}"]
    for n, place in ((world, "WLD"), (us, "USA")):
        value = gbd.loc[(gbd["location_id"] == place) & (gbd["year"] == year)
                        & (gbd["gbd_round"] == 2019), "value"].item()
        old = gbd.loc[(gbd["location_id"] == place) & (gbd["year"] == year)
                      & (gbd["gbd_round"] == 2017), "value"].item()
        assert n.published == (f"GBD 2019 round published {value:,.0f} for {year}; for "
                               f"{year}, the GBD 2017 round published {old:,.0f} and the "
                               f"GBD 2019 round {value:,.0f}")
        assert n.published_source == "owid_gbd2019_deaths, owid_gbd_deaths"
        assert "not any one round's figure" in n.note and "revise" in n.note
        assert n.prior_driven is None and n.table == "deaths_summary"
    assert world.prior_sensitivity == "prior-data conflict"
    psense = inputs.models["deaths"].prior_sensitivity.iloc[0]
    largest = (f"largest single prior: {psense['largest_prior']} "
               f"({psense['largest_prior_sensitivity']:.3f})")
    assert world.prior_sensitivity_detail == (f"World deaths {year}: prior sensitivity "
                                              "0.071, likelihood sensitivity 0.397; "
                                              f"{largest}")
    assert us.prior_sensitivity == "ok"
    # every country of a GBD round shares its bias (docs/validation/checks.md): the US
    # count's interval rests on that prior as the world's does
    assert "rests mostly on a prior" in world.prior_part and "the world total" in world.prior_part
    assert "rests mostly on a prior" in us.prior_part and "the United States total" in us.prior_part
    rate = next(n for label, n in numbers.items() if "crude death rate" in label)
    assert rate.prior_sensitivity == "prior-data conflict" and rate.published == ""
    attributable = [n for n in numbers.values() if n.model == "attribution"]
    assert attributable and all("the same estimand" in n.note for n in attributable)
    # without rounds in the table, nothing is printed beside them (never made up)
    plain_inputs = synthetic_inputs(seed=1)
    plain_inputs.tables["gbd_deaths"] = plain_inputs.tables["gbd_deaths"].drop(
        columns="gbd_round")
    plain = key_numbers(plain_inputs, build.ReportOptions())
    assert not any(n.published for n in plain)
    # on the page: the published figure and the flag on the number, the check linked
    html = build.build_report(ReportInputs(
        deaths_summary=inputs.deaths_summary, tables={"gbd_deaths": gbd},
        models={"deaths": inputs.models["deaths"]}), tmp_path).read_text()
    cards = html[html.index('<section id="numbers">'):html.index("<p>Mean (95% interval)")]
    assert str(escape(world.published)) in cards
    assert cards.count('<span class="prior">prior-data conflict</span>') == 2  # and rate
    assert 'href="#source-owid_gbd2019_deaths"' in cards and 'id="prior-sensitivity"' in html
    # the flagged output's largest single prior: on its card and in the check's table
    assert largest in cards
    check = html[html.index('id="prior-sensitivity"'):]
    check = check[:check.index("</table>")]
    flagged = check[check.index(f"<td>World deaths {year}</td>"):]
    flagged = flagged[:flagged.index("</tr>")]
    assert (f"<td>{psense['largest_prior']} ({psense['largest_prior_sensitivity']:.3f})"
            "</td>") in flagged


def test_a_prior_sensitivity_table_written_before_the_largest_prior_still_reads(tmp_path):
    """A saved table without largest_prior (written before it) passes the reader's
    validation and the report shows its largest single prior as not computed, beside a
    model whose table has it."""
    from burden.report.collect import read_results
    from burden.report.numbers import NOT_COMPUTED, key_numbers, prior_sensitivity_table
    from burden.summarise import write_results

    inputs = _with_gbd_rounds(synthetic_inputs(seed=1))
    deaths = inputs.models["deaths"]
    old = deaths.prior_sensitivity.drop(columns=["largest_prior", "largest_prior_sensitivity"])
    frames = {"summary": inputs.deaths_summary, "diagnostics": deaths.diagnostics,
              "ppc": deaths.ppc, "loo_pit": deaths.loo_pit, "prior_sensitivity": old}
    write_results("deaths", frames, {}, tmp_path / "deaths.nc", tmp_path)
    _, read = read_results("deaths", tmp_path / "deaths")
    assert "largest_prior" not in read["prior_sensitivity"]
    deaths.prior_sensitivity = read["prior_sensitivity"]
    table = prior_sensitivity_table(inputs)
    new = inputs.models["production"].prior_sensitivity
    assert table["largest_prior"].isna().sum() == len(old)
    assert set(table["largest_prior"].dropna()) == set(new["largest_prior"])
    world = next(n for n in key_numbers(inputs, build.ReportOptions())
                 if n.label.startswith("World deaths") and n.prior_sensitivity)
    assert world.prior_sensitivity_detail.endswith(f"largest single prior: {NOT_COMPUTED}")
    html = build.build_report(ReportInputs(
        deaths_summary=inputs.deaths_summary, tables={"gbd_deaths": inputs.tables["gbd_deaths"]},
        models={"deaths": deaths, "production": inputs.models["production"]}),
        tmp_path / "report").read_text()
    assert f"largest single prior: {NOT_COMPUTED}" in html
    assert html.count(f"<td>{NOT_COMPUTED}</td>") == len(old)


def test_us_correction_says_which_part_is_from_the_prior():
    """The corrected US count is the certified count plus a share of the deaths whose
    certificate names no drug; only that share is a prior, so the number says so and is
    not flagged as a whole (the certified count is data)."""
    from burden.report.numbers import key_numbers

    inputs = synthetic_inputs(seed=1)
    cc = inputs.certified_correction
    n = next(n for n in key_numbers(inputs, build.ReportOptions())
             if n.label.startswith("US ") and "corrected" in n.label)
    year = int(n.label.rsplit(", ", 1)[1])
    rows = cc[cc["year"] == year].set_index("series")
    imp, rep = rows.loc["imputed"], rows.loc["reported"]
    assert n.prior_driven is False and n.table == "us_correction"
    assert n.prior_part.startswith(
        f"only the added {imp['mean']:,.0f} "
        f"({imp['mean'] / rows.loc['corrected', 'mean']:.0%} of the mean)")
    assert interval_text(rep["mean"], rep["lower"], rep["upper"]) in n.note
    assert interval_text(imp["mean"], imp["lower"], imp["upper"]) in n.note
    assert f"{rows.loc['unspecified', 'mean']:,.0f} overdose deaths" in n.note


def test_every_id_is_unique_and_the_contents_reach_every_section(built):
    """Two sections shared id="sources": the contents' "Data sources" jumped to the opium
    section. Every id is unique; the contents link the data sources, back-tests and SBC."""
    _, _, html = built
    links = _links(html)
    repeated = sorted({i for i in links.ids if links.ids.count(i) > 1})
    assert links.ids and not repeated, repeated
    nav = _links(html[html.index("<nav>"):html.index("</nav>")]).hrefs
    for anchor in ("#data-sources", "#backtests", "#sbc", "#sources", "#methods"):
        assert anchor in nav, anchor
    start = html.index('id="data-sources"')
    assert html.index("<h2>Data sources</h2>", start) - start < 40



def test_the_sensitivity_scenarios_are_defined_on_the_page(tmp_path):
    """The sensitivity figure's scenarios ("both -> opiate", "synthetic half China") were
    named but never defined: a table under the figure gives each scenario's assumption
    values as the sensitivity table stores them, and the deaths it attributes."""
    from burden.report.numbers import SCENARIO_COLUMNS, scenario_table

    sens = synthetic_inputs(seed=1).sensitivity
    stored = {"baseline": ("MEX share Beta(8, 2), rest CHN", "Beta(1, 1)"),
              "flat route prior": ("MEX share 0.5, rest CHN", "Beta(1, 1)"),
              "no signature data": ("MEX share Beta(8, 2), rest CHN", "1")}
    sens["fentanyl_manufacture"] = sens["scenario"].map(lambda s: stored[s][0])
    sens["both_to_opiate"] = sens["scenario"].map(lambda s: stored[s][1])
    inputs = ReportInputs(sensitivity=sens)
    table = scenario_table(inputs, build.ReportOptions())
    year = int(sens["year"].max())
    assert table["year"] == year and table["market"] == "USA"
    assert table["columns"] == list(SCENARIO_COLUMNS.values())
    assert [r["scenario"] for r in table["rows"]] == list(stored)
    assert [tuple(r["assumptions"]) for r in table["rows"]] == list(stored.values())
    top = (sens[(sens["scenario"] == "baseline") & (sens["year"] == year)]
           .sort_values("mean", ascending=False).iloc[0])
    assert table["rows"][0]["deaths"][0] == interval_text(top["mean"], top["lower"],
                                                          top["upper"])
    html = build.build_report(inputs, tmp_path).read_text()
    section = html[html.index('id="scenarios"'):]
    for name, (made, both) in stored.items():
        assert f"<tr><td>{name}</td><td>{made}</td><td>{both}</td>" in section
    assert scenario_table(ReportInputs(), build.ReportOptions()) is None


def test_failed_predictive_checks_and_missing_validation_are_summarised(built, tmp_path):
    """The page says, from the LOO-PIT figure's plotted data, how many data sources stay
    inside their band and names those that do not, linking the checks' documentation;
    'weak likelihood' is defined; without back-tests or SBC results the key numbers say
    that the projected years are not validated in this build."""
    from types import SimpleNamespace

    _, path, html = built
    data = pd.read_csv(path.parent / "tables" / "figure_loo_pit.csv")
    panels = data.groupby(["model", "source"])["inside"].first()
    assert f"<b>{panels.sum()} of {len(panels)} data sources stay inside their band.</b>" in html
    assert 'href="docs/validation/checks.md"' in html
    assert (path.parent / "docs" / "validation" / "checks.md").is_file()
    assert "to neither (<b>weak likelihood</b>)" in html
    numbers = html[html.index('<section id="numbers">'):html.index("</section>")]
    assert "Back-tests: none in this build" in numbers
    assert "Simulation-based calibration: none in this build" in numbers
    assert ("So the projected years (after 2017, the last year of GBD data) and the "
            "nowcasts are not validated in this build") in numbers
    # a source outside its band is counted and named by its readable name (its panel's
    # title), not by the id its fit writes
    (tmp_path / "tables").mkdir()
    data.loc[data["source"] == "source B", "inside"] = False
    data.loc[data["source"] == "source B", "label"] = "Source B, readable"
    data.to_csv(tmp_path / "tables" / "figure_loo_pit.csv", index=False)
    fig = SimpleNamespace(id="loo_pit", unavailable="", csv="tables/figure_loo_pit.csv")
    summary = build.loo_pit_summary([fig], tmp_path)
    outside = {(m["model"], s) for m in summary["outside"] for s in m["sources"]}
    assert outside == {(m, "Source B, readable") for m in data["model"].unique()}
    assert summary["panels"] - summary["inside"] == len(outside)
    # a source inside its band whose Pareto k are mostly above 0.7 is counted as inside
    # and named apart: its check says little; one outside is not named again, nor is one
    # with exactly half its k high
    assert summary["unreliable_count"] == 0 and summary["unreliable"] == []
    other = next(s for s in data["source"].unique() if s != "source B")
    data.loc[data["source"] == other, "share_k_high"] = 0.75
    data.loc[data["source"] == "source B", "share_k_high"] = 1.0
    data.to_csv(tmp_path / "tables" / "figure_loo_pit.csv", index=False)
    again = build.loo_pit_summary([fig], tmp_path)
    assert again["inside"] == summary["inside"] and again["outside"] == summary["outside"]
    said_little = {(m["model"], s) for m in again["unreliable"] for s in m["sources"]}
    labels = data.loc[data["source"] == other, ["model", "label"]].drop_duplicates()
    assert said_little == set(labels.itertuples(index=False, name=None))
    assert again["unreliable_count"] == len(said_little)
    data.loc[data["source"] == other, "share_k_high"] = build.LOO_PIT_UNRELIABLE_SHARE
    data.to_csv(tmp_path / "tables" / "figure_loo_pit.csv", index=False)
    assert build.loo_pit_summary([fig], tmp_path)["unreliable"] == []
    assert build.validation_status([{"title": "A", "available": True}],
                                   [{"model": "deaths", "available": False}]) == {
        "backtests": ["A"], "sbc": []}


def test_the_certified_and_composition_summaries_are_written_beside_the_page(built, tmp_path):
    """The US and Canada key numbers come from the certified summary and the attribution
    splits deaths by the composition fit's shares: both tables are written and listed,
    and each key number links its table."""
    from burden.report.collect import FIELDS
    from burden.report.numbers import write_tables

    inputs, path, html = built
    assert "certified_summary" in inputs.__dataclass_fields__
    assert FIELDS["composition"] == {"summary": "composition_summary"}
    inp = ReportInputs(certified_summary=inputs.certified_summary,
                       composition_summary=pd.DataFrame({"location_id": ["USA"],
                                                         "mean": [0.5]}))
    written = write_tables(inp, [], tmp_path)
    assert written["certified_summary"] == "tables/certified_summary.csv"
    assert written["composition_summary"] == "tables/composition_summary.csv"
    assert (path.parent / "tables" / "certified_summary.csv").stat().st_size > 0
    assert '<li><a href="tables/certified_summary.csv">certified_summary</a></li>' in html
    key = pd.read_csv(path.parent / "tables" / "key_numbers.csv")
    canada = key[key["label"].str.startswith("Canada ")]
    assert len(canada) and (canada["table"] == "certified_summary").all()
    assert 'Table: <a href="tables/certified_summary.csv">' in html


def test_the_page_shows_no_absolute_path(tmp_path):
    """Paths on the page (the saved fits, missing results, back-tests and SBC runs) are
    relative to the project folder, never the absolute paths of the machine that built it."""
    from burden.report.collect import collect_inputs

    models = tmp_path / "project" / "models"
    models.mkdir(parents=True)
    fit = models / "certified.nc"
    fit.write_bytes(b"a fit")
    manifest = _certified_results(fit, models)
    assert manifest["source"].startswith(str(tmp_path))  # recorded absolute: shown relative
    inputs = collect_inputs(models, tmp_path / "project" / "data" / "processed")
    html = build.build_report(inputs, tmp_path / "out").read_text()
    assert str(tmp_path) not in html
    assert "<code>models/certified.nc</code>" in html
    assert "deaths results (models/deaths/manifest.json not found" in html
    assert "no processed tables in data/processed" in html
    assert "models/certified_backtest.csv not found" in html
    assert "no run in models/sbc/deaths" in html
    # the deaths model's prior SBC does not converge: the page names the posterior run
    assert ("no run in models/sbc/deaths (run `burden validate sbc --model deaths --worlds "
            "posterior --simulations 200`, which writes to models/sbc/deaths-posterior; the "
            "prior SBC's fits") in html.replace("&#39;", "'")
    # with that run there, the page does not ask for it again
    from burden.report.sbc import no_run_reason

    there = no_run_reason("deaths", "models/sbc/deaths", posterior_run=True)
    assert "its posterior SBC run is below" in there and "run `" not in there
    assert "run `burden validate sbc --model production --simulations 200`, which writes to " \
        "models/sbc/production)" in no_run_reason("production", "models/sbc/production", True)
    assert "the runs recorded so far: docs/validation/sbc.md, &#34;Where it stands&#34;" in html


def test_the_page_says_how_to_cite_it_with_the_commit_that_built_it(built, tmp_path):
    """A 'How to cite' line names the package, its version and the commit of the code
    that built the page, asked of git at build time; outside a git checkout of the
    package itself the commit is 'unknown', never made up."""
    import re
    import subprocess
    from pathlib import Path

    from burden.report.provenance import code_commit, package_versions

    _, _, html = built
    cite = re.search(r"<b>How to cite\.</b> burden (\S+), code commit ([^:]+):", html)
    assert cite and cite.group(1) == package_versions()["burden"]
    shown = cite.group(2)
    assert f"<tr><th>code commit</th><td><code>{shown}</code></td></tr>" in html
    # the commit (not whether files changed since the page was built)
    commit = code_commit()
    assert shown.split()[0] == commit.split()[0]
    if shutil.which("git") is None:
        pytest.skip("no git here: the commit's source is not checked")
    package = Path(build.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"],
                          check=False, capture_output=True, text=True)
    if head.returncode == 0:
        assert commit.split()[0] == head.stdout.strip()
    (tmp_path / "burden").mkdir()
    assert code_commit(tmp_path / "burden") == "unknown"  # no checkout
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    (tmp_path / "repo" / "vendored" / "burden").mkdir(parents=True)
    assert code_commit(tmp_path / "repo" / "vendored" / "burden") == "unknown"  # another's


def test_each_section_says_what_it_answers_and_methods_read_as_text(built, tmp_path):
    """Each section opens with the question it answers; the methods link the model docs;
    priors read as distributions in a table, not raw JSON; the developers' history of the
    SBC rule is left to docs/validation/sbc.md."""
    _, path, html = built
    for section in ("numbers", "deaths", "sources", "attribution", "checks", "methods",
                    "data-sources", "provenance"):
        start = html.index(f'<section id="{section}">')
        assert html.index('<p class="intro">', start) < html.index("</h2>", start) + 30
    for doc in ("models/deaths.md", "models/certified.md", "models/shares.md",
                "models/composition.md", "validation/sbc.md"):
        assert f'href="docs/{doc}"' in html and (path.parent / "docs" / doc).is_file()
    for developers_only in ("2026-12-04", "analysis/", "binomial allowance"):
        assert developers_only not in html
    # the US year effects (deaths version 8) are said in the methods, with where the
    # change is measured
    methods = html[html.index('<section id="methods">'):]
    methods = methods[:methods.index("</section>")]
    us = methods[methods.index("The US curve turns with its deaths"):]
    assert 'href="docs/models/deaths.md"' in us[:us.index("</p>")]
    assert "A known limit of the US deaths" not in html
    assert build.model_settings({"priors": {"tau": {"dist": "LogNormal", "mu": -2.302585,
                                                    "sigma": 0.5}},
                                 "years": [1998, 2024], "design_bias": True,
                                 "last_data_year": None}) == {
        "priors": [{"name": "tau", "prior": "LogNormal(mu=-2.303, sigma=0.5)"}],
        "settings": [{"name": "design_bias", "value": "yes"},
                     {"name": "last_data_year", "value": "none"},
                     {"name": "years", "value": "1998, 2024"}]}
    inputs = _markets_only(2)
    record = synthetic_inputs(seed=2).models["deaths"]
    record.provenance.model_config = {"priors": {"round_bias_sd": {"dist": "HalfNormal",
                                                                   "sigma": 0.2}}}
    inputs.models = {"deaths": record}
    page = build.build_report(inputs, tmp_path).read_text()
    assert ("<tr><td><code>round_bias_sd</code></td><td>HalfNormal(sigma=0.2)</td></tr>"
            in page)
    assert '&#34;dist&#34;' not in page and '"dist"' not in page
    # no table the fit read is among the processed tables: the coverage figure says why
    assert "none of the processed tables the saved fits read" in page


def test_table_numbers_are_read_without_exponents():
    """Tables on the page show three significant digits, thousands with separators (route
    priors' seizure kilograms were printed as 4.43e+04), small numbers as before."""
    assert [build.readable_number(v) for v in (44335.2, 2051.0, 999.4, 0.5184, -12345.0,
                                               float("nan"))] == [
        "44,300", "2,050", "999", "0.518", "-12,300", ""]


def test_the_largest_heroin_source_says_when_the_signature_program_stopped():
    """The market's largest heroin source is read in the attribution year; when the DEA
    Heroin Signature Program published nothing that late, the key number says its last
    year (the shares are the model's carried on), and says nothing when it did."""
    import dataclasses

    from burden.report.numbers import key_numbers

    inputs = synthetic_inputs(seed=1)
    opt = build.ReportOptions()

    def heroin_note(inp):
        return next(n for n in key_numbers(inp, opt) if n.label.startswith(
            "Largest source of USA heroin")).note

    sig = inputs.tables["signature_shares"]
    last = int(sig.loc[sig["destination"] == "USA", "year"].max())
    note = heroin_note(inputs)
    year = int(next(n for n in key_numbers(inputs, opt) if n.label.startswith(
        "Largest source of USA heroin")).label.split(", ")[1].split(":")[0])
    assert last < year  # the synthetic program stops before the attribution year
    assert note == (f"the DEA Heroin Signature Program's last published year is {last}: "
                    "this year's shares are the model's, carried on from the years it "
                    "measured")
    later = pd.concat([sig, sig.assign(year=year)], ignore_index=True)
    tables = {**inputs.tables, "signature_shares": later}
    assert heroin_note(dataclasses.replace(inputs, tables=tables)) == ""


def test_markets_shown_lists_few_countries_by_name_and_counts_many():
    """The page's markets table names a market's countries when there are at most
    ``MARKET_NAMES_LISTED`` and otherwise counts them and points to the written table."""
    import pandas as pd

    from burden.report.collect import MARKET_NAMES_LISTED, markets_shown

    many = [f"C{i}" for i in range(MARKET_NAMES_LISTED + 1)]
    members = pd.DataFrame({
        "market": ["North America"] + ["Africa"] * len(many),
        "location_id": ["GRL", *many], "location_name": ["Greenland", *many]})
    shown = markets_shown(members).set_index("market")["countries"].to_dict()
    assert shown == {"Africa": f"{len(many)} countries (tables/attribution_markets.csv)",
                     "North America": "Greenland"}
