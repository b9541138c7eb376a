"""Shared fixtures: verified raw files through the mirror, and the fixtures folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from burden import config

# the command line's Numba level, OpenBLAS kernel and numpy loops (before any test imports
# numpy or Numba); those set after a plugin had imported numpy stop the run (pytest_configure)
_too_late = config.use_process_defaults(warn=False)

from burden.data import fetch as fetch_module
from burden.registry.sources import SOURCES

FIXTURES = Path(__file__).parent / "fixtures"
_DEFAULT_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw"


def _mirror() -> Path | None:
    value = os.environ.get("BURDEN_DATA_MIRROR")
    if value:
        return Path(value).expanduser().resolve()
    return _DEFAULT_MIRROR if _DEFAULT_MIRROR.is_dir() else None


def _missing(reason: str):
    # Under CI a missing mirror is a failure, not a skip: real-data tests must run there.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real data unavailable under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory) -> Path:
    """A session folder holding verified copies of the raw files."""
    return tmp_path_factory.mktemp("raw")


@pytest.fixture(scope="session")
def raw_file(raw_dir):
    """raw_file(source_id) -> Path of the hash-verified raw file (copied from the mirror)."""

    def get(source_id: str) -> Path:
        mirror = _mirror()
        if mirror is None or not (mirror / SOURCES[source_id].filename).exists():
            _missing(f"no mirror with {SOURCES[source_id].filename} (set BURDEN_DATA_MIRROR)")
        return fetch_module.fetch(source_id, raw_dir=raw_dir, mirror=mirror)

    return get


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


# ---- fits shared by the whole session -------------------------------------------------------
# Each model graph is compiled at most once per session: the fits below are made once and
# shared by the model, attribution, summarise and report tests; a later fit of the same model
# and data (another seed or sampler setting) reuses the compiled model
# (``BayesianEstimator.compiled_model``). The terminal summary lists every compilation.

#: Fixtures that run a sampler; tests using them are marked ``slow`` (``make test-fast``
#: skips them and any other test that tries to sample fails there).
SAMPLING_FIXTURES = {"pipeline", "deaths_fit", "production_fit", "markets_fit", "certified_fit",
                     "composition_fit", "packed_run"}
#: Small sampler for the simulated deaths world: the API tests need draws, not precision.
#: Every draw kept (the deaths model's default keeps every 2nd): the tests' tolerances
#: were set on 200 draws a chain (tests/test_thinning.py tests thinning itself)
SMALL_SAMPLER = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 11, "thin": 1}
#: One fixed simulated deaths data set (recovery is checked for this draw).
DEATHS_SIM_SEED = 3
#: One fixed simulated composition data set (on the deaths world's locations).
COMPOSITION_SIM_SEED = 5


#: Session fits defined in a test module (shared by that module's tests only)
MODULE_FITS = {"certified_fit", "recovery", "fitted", "packed_run"}


def _xdist_group(names: set[str], module: str) -> str | None:
    """Tests sharing a session fit run on the same pytest-xdist worker (``make test`` runs
    ``--dist loadgroup``): a session fixture is made once per worker, so spreading its
    tests over two workers would fit the model twice."""
    if {"pipeline", "deaths_simulated"} & names or (SAMPLING_FIXTURES - MODULE_FITS) & names:
        return "pipeline"
    if names & MODULE_FITS:
        return module
    return None


def pytest_configure(config):
    """Stop a run whose tests would not compute as the command line does: numpy read its
    settings before this file set them, so the tests would run on another OpenBLAS kernel
    or other numpy loops, with other draws. A pytest plugin imports numpy so (zarr's did:
    pyproject.toml's addopts has ``-p no:zarr``). pytest-xdist's controller runs no test,
    and its workers start with the variables set."""
    # pytest-xdist's own test of a distributed session (``--tx popen --dist no`` runs the
    # tests here); a collection computes nothing
    controller = (config.getoption("dist", "no") != "no" and config.getoption("tx", None)
                  and not hasattr(config, "workerinput"))
    if _too_late and not controller and not config.getoption("collectonly"):
        raise pytest.UsageError(
            "numpy was imported before tests/conftest.py could set "
            + ", ".join(f"{name}={os.environ[name]!r}" for name in _too_late)
            + " (probably by a pytest plugin): the tests would not compute as the command "
            "line does. Set them in the environment, or leave the plugin out with "
            "`-p no:NAME` (`python -m pytest --trace-config` lists the plugins).")


def pytest_itemcollected(item):
    """Mark sampling tests ``slow`` and put tests that share a session fit in one
    ``xdist_group`` (``_xdist_group``)."""
    names = set(getattr(item, "fixturenames", ()))
    if SAMPLING_FIXTURES & names:
        item.add_marker(pytest.mark.slow)
    module = getattr(item, "module", None)
    group = _xdist_group(names, module.__name__ if module else "")
    if group is not None:
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook
def pytest_collection_modifyitems(config, items):
    """Name each grouped test ``<node id>@<group>``, which is how pytest-xdist's
    ``loadgroup`` scheduler finds a group. pytest-xdist 3.8 does it by assigning
    ``item._nodeid``, which pytest 9.2 no longer reads (node ids live in ``item._id``), so
    a group's tests were spread over the workers and every session fit was made on each
    (tests/test_test_groups.py)."""
    from _pytest.nodeid import coerce_node_id

    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = sorted({str(m.args[0]) for m in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")


@pytest.fixture
def interpreted_graphs():
    """The test's PyTensor functions run by Python (PyTensor's ``FAST_COMPILE`` mode: its
    cheapest rewrites, each operation's NumPy code), not compiled by Numba. For tests of an
    identity of graphs -- two parameterisations with the same log density or the same
    prior, swapped data giving the density of the model built on them, a prior that cannot
    draw some worlds -- which holds whatever runs the graph. Not for a test of the
    numerics the fits use (a tail's finite gradient, Numba's own indexing code), nor of the
    draws a seed gives. With an empty compile cache Numba took 57.5 s for the sheared
    deaths ratio's densities and 29.0 s for the calibration's swapped observations; Python
    takes 5.6 s and 2.7 s (pytest --durations, one process, empty PyTensor and Numba
    caches, 2026-12-05 19:18-19:24 UTC; docs/performance.md, "Tests of graph identities
    without Numba").
    PyTensor's Python code sums at most 31 terms in one addition: a model's whole log
    density needs ``compile_logp(sum=False)`` and a sum (``summed_logp``)."""
    import pytensor

    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        yield


def summed_logp(model):
    """``model``'s log density at a point, its terms compiled apart and summed in NumPy
    (see ``interpreted_graphs``)."""
    import numpy as np

    terms = model.compile_logp(sum=False)
    return lambda point: float(sum(np.sum(t) for t in terms(point)))


@pytest.fixture(autouse=True)
def _no_sampler_in_fast_tests(request, monkeypatch):
    """Outside tests marked slow, any attempt to sample fails (so ``make test-fast`` runs
    no sampler, and a test that samples without the marker is found)."""
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} samples but is not marked slow")

    import nutpie
    import pymc as pm

    monkeypatch.setattr(nutpie, "sample", refuse)
    monkeypatch.setattr(pm, "sample", refuse)


class _FakeFuture:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)

    def cancel(self):
        pass


#: the simulations submitted to ``FakeDaskClient``, in order
SUBMITTED: list[int] = []


def fake_as_completed(futures, loop=None):
    """``distributed.as_completed`` for ``FakeDaskClient``: the futures in order."""
    return list(futures)


class FakeDaskClient:
    """``distributed.Client`` running each task in this process when its result is asked
    for (SBC runs without a cluster: monkeypatch ``distributed.Client`` with it, and
    ``distributed.as_completed`` with ``fake_as_completed``)."""

    loop = None

    def __init__(self, address, set_as_default=True):
        pass

    def scheduler_info(self):
        return {"workers": {"fake": {}}}

    def scatter(self, value, broadcast=False):
        return value

    def run(self, fn):
        return {"fake": fn()}

    def submit(self, fn, *args, pure=True, key=None):
        SUBMITTED.append(args[1].sim)
        return _FakeFuture(fn, args)

    def close(self):
        pass


def pytest_terminal_summary(terminalreporter):
    from burden.models.base import compile_log

    entries = compile_log()
    if not entries:
        return
    counts: dict[str, list[float]] = {}
    for model_type, _key, seconds in entries:
        counts.setdefault(model_type, []).append(seconds)
    keys = [key for _, key, _ in entries]
    terminalreporter.write_line(
        "model compilations this session: " + ", ".join(
            f"{m} {len(s)} ({sum(s):.0f} s)" for m, s in counts.items())
        + f"; distinct graphs {len(set(keys))}, compiled twice: "
        f"{len(keys) - len(set(keys))}")


def _reference_tables() -> dict:
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.registry import published

    out = {}
    for sid, name in (("reference_opium_production", "production_measurements"),
                      ("reference_heroin_signature", "signature_shares")):
        src = published.REFERENCE_SOURCES[sid]
        out[name] = reference.load(src.path, CleaningLog(src.id, src.filename), src.id)
    return out


@pytest.fixture(scope="session")
def deaths_simulated():
    """(tables, truth, draws): the 42-country simulated world of ``deaths_sim``."""
    import warnings

    from burden.models.deaths import OpioidDeaths
    from burden.models.deaths_sim import simulate, template_tables, with_overlap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # notes (TWN has no population)
        tables, truth, draws = simulate(OpioidDeaths(), template_tables(), seed=DEATHS_SIM_SEED)
    return with_overlap(tables), truth, draws


class Pipeline:
    """The whole pipeline run once on small inputs in a temporary project folder:
    processed tables -> fits -> result tables -> attribution."""

    def __init__(self, root: Path):
        self.root = root
        self.processed = root / "data" / "processed"
        self.models = root / "models"
        self.processed.mkdir(parents=True)
        self.fits: dict = {}


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, deaths_simulated):
    """Deaths on the simulated world (small sampler), production and market shares on the
    packaged published figures (the package's default samplers, as ``make report``),
    saved, summarised and attributed like ``make models`` does."""
    import warnings

    from burden import attribution, summarise
    from burden.models.composition import OpioidComposition
    from burden.models.composition_sim import simulate as simulate_composition
    from burden.models.deaths import OpioidDeaths
    from burden.models.markets import MarketShares
    from burden.models.production import OpiumProduction

    run = Pipeline(tmp_path_factory.mktemp("project"))
    data, _, _ = deaths_simulated
    tables = {**{k: v for k, v in data.items() if k != "locations"}, **_reference_tables()}
    for name, frame in tables.items():
        frame.to_parquet(run.processed / f"{name}.parquet", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # data notes (TWN has no population)
        deaths = OpioidDeaths(sampler_config=SMALL_SAMPLER)
        deaths.fit(data, progressbar=False)
        production = OpiumProduction()
        production.fit({"production_measurements": tables["production_measurements"]},
                       progressbar=False)
        markets = MarketShares(production=production)
        markets.fit({"signature_shares": tables["signature_shares"]}, progressbar=False)
        # composition on the deaths world's countries (simulated evidence; its US and
        # Canada blocks are made-up counts in the real formats)
        comp_tables, _ = simulate_composition(data["locations"], COMPOSITION_SIM_SEED)
        composition = OpioidComposition(sampler_config=SMALL_SAMPLER)
        composition.fit(comp_tables, progressbar=False)
    run.fits = {"deaths": deaths, "production": production, "markets": markets,
                "composition": composition}
    for name, est in run.fits.items():
        est.save(run.models / f"{name}.nc")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            summarise.summarise(name, run.models)
    attribution.attribute_from_saved(run.models)
    summarise.summarise("attribution", run.models)
    return run


@pytest.fixture(scope="session")
def deaths_fit(pipeline):
    return pipeline.fits["deaths"]


@pytest.fixture(scope="session")
def production_fit(pipeline):
    return pipeline.fits["production"]


@pytest.fixture(scope="session")
def markets_fit(pipeline):
    return pipeline.fits["markets"]


@pytest.fixture(scope="session")
def composition_fit(pipeline):
    return pipeline.fits["composition"]


#: The certified model's processed tables (tests/test_certified.py, tests/test_sbc.py).
CERTIFIED_TABLES = ("us_deaths_by_drug", "us_provisional_national", "canada_opioid_deaths")


@pytest.fixture(scope="session")
def certified_tables(raw_file, tmp_path_factory):
    """The certified model's processed tables, built from the hash-checked raw files."""
    import pandas as pd

    from burden.data import build

    out = tmp_path_factory.mktemp("certified_processed")
    raw = raw_file("nida_deaths").parent
    for source in ("nida_rates", "vsrr_national", "phac_harms"):
        raw_file(source)
    return {t: pd.read_parquet(build.build_table(t, out_dir=out, raw_dir=raw, progress=None))
            for t in CERTIFIED_TABLES}
