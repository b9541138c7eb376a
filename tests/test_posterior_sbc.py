"""Posterior SBC (``burden.validate.posterior_sbc``): the replicated model's density, its
replicates' independence, what a run refuses, and a small run from a saved fit (slow)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import summed_logp

from burden.errors import SBCResumeError, SBCWorldsError


def _observed_terms(model, point, values: dict[str, np.ndarray] | None = None) -> float:
    """Sum of ``model``'s observed variables' log densities at ``point``, at their own data
    or at ``values``."""
    import pytensor.tensor as pt

    copy = model.copy()
    for rv in copy.observed_RVs:
        if values is not None:
            copy.rvs_to_values[rv] = pt.as_tensor(values[rv.name])
    terms = copy.compile_logp(vars=copy.observed_RVs, sum=False)
    return float(sum(np.sum(t) for t in terms(point)))


def test_replicates_add_each_observed_term_once_at_their_own_data(interpreted_graphs):
    """The production model (a Student-t likelihood and a ``pm.Censored`` one): the
    replicated model has the same free variables and, for every observed variable, a
    replicate whose log density is the original's at the replicate's data."""
    from burden.validate import sbc, sbc_specs
    from burden.validate.posterior_sbc import replicate_name, with_replicated_observations

    model = sbc_specs.production_spec().build()
    replicated = with_replicated_observations(model)
    names = [rv.name for rv in model.observed_RVs]
    assert {rv.name for rv in replicated.free_RVs} == {rv.name for rv in model.free_RVs}
    assert sorted(rv.name for rv in replicated.observed_RVs) == sorted(
        names + [replicate_name(n) for n in names])
    assert {rv.name for rv in model.observed_RVs} == set(names)  # the model is left alone
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(scale=0.2, size=np.shape(v))
             for k, v in model.initial_point().items()}
    base, same = summed_logp(model)(point), summed_logp(replicated)(point)
    # replicates at the real data: every observed term counted twice
    assert same - base == pytest.approx(_observed_terms(model, point), rel=1e-10)
    # replicates swapped to other data: their terms are the originals' at those data
    other = {}
    for rv in model.observed_RVs:
        value = np.asarray(model.rvs_to_values[rv].data, dtype=float)
        other[rv.name] = value + rng.normal(scale=0.1, size=value.shape)
        data = replicated.rvs_to_values[replicated[replicate_name(rv.name)]]
        assert data.name == sbc.DATA_PREFIX + replicate_name(rv.name)
        data.set_value(other[rv.name].astype(value.dtype))
    moved = summed_logp(replicated)(point)
    assert moved - base == pytest.approx(_observed_terms(model, point, other), rel=1e-10)
    assert moved != pytest.approx(same, rel=1e-6)


def test_replicates_are_independent_draws_of_the_same_distribution(interpreted_graphs):
    """A replicate is drawn with its own random generator, the wrapped distribution of a
    censored variable included: its prior predictive draws differ from the original's and
    agree with them in distribution."""
    import pymc as pm

    from burden.validate.posterior_sbc import replicate_name, with_replicated_observations

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 0.5, observed=np.zeros(3))
        pm.Censored("c", pm.Normal.dist(mu, 1.0), lower=-0.5, upper=None,
                    observed=np.zeros(2))
    replicated = with_replicated_observations(model)
    with replicated:
        pred = pm.sample_prior_predictive(4000, random_seed=2)["prior_predictive"]
    for name in ("y", "c"):
        a = pred[name].values.ravel()
        b = pred[replicate_name(name)].values.ravel()
        assert not np.allclose(a, b)
        assert abs(a.mean() - b.mean()) < 0.08  # Monte Carlo se of a difference ~0.03
        assert abs(a.std() - b.std()) < 0.08
    # the censored replicate is censored as its original: nothing below the bound
    assert pred[replicate_name("c")].values.min() == pytest.approx(-0.5)


def test_only_the_named_observed_variables_are_replicated(interpreted_graphs):
    """``only`` (a diagnosis: which copies a miscalibration needs) replicates the named
    observed variables and no other: the log density gains their terms alone; a name the
    model does not observe, or none, is refused with the model's observed names."""
    import pymc as pm
    from scipy import stats

    from burden.validate.posterior_sbc import replicate_name, with_replicated_observations

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 0.5, observed=np.array([0.1, -0.2, 0.3]))
        pm.Normal("w", mu, 2.0, observed=np.array([1.0, 0.5]))
    replicated = with_replicated_observations(model, only=["w"])
    assert sorted(rv.name for rv in replicated.observed_RVs) == sorted(
        ["y", "w", replicate_name("w")])
    point = {"mu": np.array(0.3)}
    gained = (replicated.compile_logp()(point) - model.compile_logp()(point))
    np.testing.assert_allclose(gained, stats.norm.logpdf([1.0, 0.5], 0.3, 2.0).sum())
    for bad in (["x"], []):
        with pytest.raises(ValueError, match=r"observed variables are \['w', 'y'\]"):
            with_replicated_observations(model, only=bad)


def test_a_replicate_drawn_from_another_observed_variable_reads_its_replicate(
        interpreted_graphs):
    """An observed variable whose distribution reads another observed variable (the
    certified model splits each drug's count from the any-opioid count): its replicate
    reads the other's replicate, so the pair is replicated together, as the predictive
    draws that make the replicate data draw it."""
    import pymc as pm
    from scipy import stats

    from burden.validate.posterior_sbc import replicate_name, with_replicated_observations

    with pm.Model() as model:
        lam = pm.Exponential("lam", 0.05)
        p = pm.Beta("p", 2.0, 2.0)
        n = pm.Poisson("n", lam, observed=np.array([20, 25]))
        pm.Binomial("k", n=n, p=p, observed=np.array([10, 12]))
    replicated = with_replicated_observations(model)
    point = {"lam_log__": np.log(20.0), "p_logodds__": 0.0}
    k_term = replicated.compile_logp(vars=[replicated[replicate_name("k")]], sum=False)

    def swap(name, value):
        replicated.rvs_to_values[replicated[replicate_name(name)]].set_value(
            np.array(value))

    swap("n", [30, 16])
    swap("k", [10, 12])
    np.testing.assert_allclose(k_term(point)[0], stats.binom.logpmf([10, 12], [30, 16], 0.5))
    swap("n", [5, 6])  # fewer than k': impossible for the replicate pair
    assert np.isneginf(k_term(point)[0]).all()
    # the original still reads the real n
    k_real = replicated.compile_logp(vars=[replicated["k"]], sum=False)(point)[0]
    np.testing.assert_allclose(k_real, stats.binom.logpmf([10, 12], [20, 25], 0.5))


def test_posterior_worlds_refuse_more_simulations_than_the_fit_has_draws(tmp_path):
    import pymc as pm
    import xarray as xr

    from burden.validate import posterior_sbc, sbc_specs

    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=np.zeros(2))

    class Fit:
        def __init__(self):
            self.data = {}
            self.posterior = xr.Dataset({"mu": (("chain", "draw"), np.zeros((1, 3)))})

        def build_model(self, data):
            return model

    spec = sbc_specs.SBCSpec(model="toy", module="x", cls="X", model_config={}, tables={},
                       sampler={}, reduction="toy")
    with pytest.raises(SBCWorldsError, match="has 3 draws, fewer than the 4 simulations"):
        posterior_sbc.posterior_worlds(spec, Fit(), tmp_path / "fit.nc", 4, 1)


def test_a_model_without_observations_or_with_a_taken_name_is_refused(interpreted_graphs):
    import pymc as pm

    from burden.validate.posterior_sbc import with_replicated_observations

    with pm.Model() as empty:
        pm.Normal("mu")
    with pytest.raises(ValueError, match="no observed variable"):
        with_replicated_observations(empty)
    with pm.Model() as clash:
        mu = pm.Normal("mu")
        pm.Normal("y__replicate", mu, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.zeros(2))
    with pytest.raises(ValueError, match="already has a variable named 'y__replicate'"):
        with_replicated_observations(clash)


def test_a_posterior_run_refuses_what_does_not_apply(tmp_path):
    """No saved fit: named with the command that makes one; a model config (the worlds
    are the saved fit's); a saved fit without posterior worlds."""
    from burden.validate import sbc, sbc_specs

    spec = sbc_specs.production_spec()
    with pytest.raises(SBCWorldsError, match="need the real fit of production: no file .*"
                                             "burden fit production"):
        sbc.run("production", 2, worlds="posterior", fit=tmp_path / "none.nc", spec=spec)
    with pytest.raises(SBCWorldsError, match="--model-config does not apply"):
        sbc.run("production", 2, worlds="posterior", fit=tmp_path / "none.nc", spec=spec,
                model_config={"yield_centring": "partial"})
    with pytest.raises(SBCWorldsError, match="posterior worlds only"):
        sbc.run("production", 2, fit=tmp_path / "none.nc", spec=spec)
    with pytest.raises(SBCWorldsError, match="saved fit"):
        sbc.simulate_worlds(spec, 2, 1, worlds="posterior")


def test_the_command_line_refuses_a_design_option_with_posterior_worlds(capsys):
    from burden import cli

    code = cli.main(["validate", "sbc", "--model", "deaths", "--sims", "2", "--worlds",
                     "posterior", "--countries-per-region", "3"])
    assert code == 2
    assert "--countries-per-region does not apply" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.validation
def test_a_posterior_run_from_a_saved_fit_ranks_its_draws(tmp_path):
    """A small production fit, saved; posterior SBC of 3 simulations on 1 worker: true
    values are draws of the saved fit, each simulation keeps the real data and adds new
    data, the ranks are recorded, and resuming refuses another saved fit's worlds."""
    import warnings

    from burden.models.production import OpiumProduction
    from burden.validate import posterior_sbc, sbc, sbc_specs

    spec = sbc_specs.production_spec()
    small = {"draws": 150, "tune": 150, "chains": 2, "random_seed": 3}
    est = OpiumProduction(spec.model_config, small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(spec.tables, progressbar=False)
    path = est.save(tmp_path / "production.nc")
    out = tmp_path / "sbc"
    ranks, sims, manifest = sbc.run("production", 3, worlds="posterior", fit=path,
                                    spec=spec, workers=1, out=out, seed=5)
    assert manifest["worlds"]["worlds"] == "posterior"
    assert manifest["worlds"]["fit_sha256"] == posterior_sbc.file_sha256(path)
    assert manifest["worlds"]["fit_fingerprint"] == posterior_sbc.fit_fingerprint(
        OpiumProduction.load(path))
    assert manifest["worlds"]["posterior_draws"] == 300
    assert manifest["sampler"]["draws"] == 150  # the saved fit's sampler
    assert "posterior SBC" in manifest["reduction"]
    assert (sims["status"] == "ok").all() and len(sims) == 3
    assert ranks["rank"].notna().all()
    # the true values are draws of the saved fit
    post = OpiumProduction.load(path).posterior
    truths = ranks[ranks["variable"] == "rw_sigma"].pivot(index="sim", columns="index",
                                                          values="true")
    draws = post["rw_sigma"].stack(sample=("chain", "draw")).transpose("sample", ...)
    for _, row in truths.iterrows():
        assert np.isclose(draws.sel(source=row.index.tolist()).values,
                          row.to_numpy(float)).all(axis=1).any()
    # each simulation: the real data kept, new data beside them
    again, _, _ = posterior_sbc.posterior_worlds(
        posterior_sbc.posterior_spec(spec, OpiumProduction.load(path), path),
        OpiumProduction.load(path), path, 3, 5)
    real = again[0].data["obs_log_value"]
    # truth_quantiles places these same true values, the rank table's
    placed = posterior_sbc.truth_quantiles(
        posterior_sbc.posterior_spec(spec, OpiumProduction.load(path), path),
        OpiumProduction.load(path), 3, 5)
    for sim in again:
        for name, values in sim.truth.items():
            got = placed[(placed["sim"] == sim.sim) & (placed["variable"] == name)]
            np.testing.assert_array_equal(got["true"], np.asarray(values, float).ravel())
    both = ranks.merge(placed, on=["sim", "variable", "index"], suffixes=("", "_placed"))
    assert len(both) == len(ranks)
    np.testing.assert_allclose(both["true"], both["true_placed"], rtol=1e-12)
    assert both["truth_quantile"].between(0, 1).all()
    for sim in again:
        np.testing.assert_array_equal(sim.data["obs_log_value"], real)
        assert not np.allclose(sim.data["obs_log_value__replicate"], real)
    assert json.loads((out / "manifest.json").read_text())["worlds"]["fit"] == str(path)
    # a saved fit of another model is refused, naming the file and the class expected
    from burden.models.markets import MarketShares

    markets = dataclasses.replace(spec, module=MarketShares.__module__,
                                  cls=MarketShares.__name__)
    with pytest.raises(SBCWorldsError, match="is not a saved MarketShares fit"):
        posterior_sbc.load_fit(markets, path)
    # resuming from another saved fit is refused
    pspec = posterior_sbc.posterior_spec(spec, OpiumProduction.load(path), path)
    sims4, labels4, record = posterior_sbc.posterior_worlds(
        pspec, OpiumProduction.load(path), path, 4, 5)
    reused, _ = sbc.resume_from(out, pspec, sims4, labels4, 5, record)
    assert sorted(reused) == [0, 1, 2]
    with pytest.raises(SBCResumeError, match="fit_fingerprint"):
        sbc.resume_from(out, pspec, sims4, labels4, 5, {**record, "fit_fingerprint": "other"})
    # the same fit in another file (another date in it: a refit in a fresh clone) resumes
    est.idata.attrs["saved_by"] = "another session"
    copy = est.save(tmp_path / "production_again.nc")
    assert posterior_sbc.file_sha256(copy) != posterior_sbc.file_sha256(path)
    again = OpiumProduction.load(copy)
    assert posterior_sbc.fit_fingerprint(again) == manifest["worlds"]["fit_fingerprint"]
    cspec = posterior_sbc.posterior_spec(spec, again, copy)
    csims, clabels, crecord = posterior_sbc.posterior_worlds(cspec, again, copy, 4, 5)
    reused, _ = sbc.resume_from(out, cspec, csims, clabels, 5, crecord)
    assert sorted(reused) == [0, 1, 2]
    # one draw one bit apart is another posterior: another fingerprint
    post = again.idata["posterior"].to_dataset()
    bumped = post["rw_sigma"].values.copy()
    bumped[0, 0, 0] = np.nextafter(bumped[0, 0, 0], 1.0)
    again.idata["posterior"] = xr.DataTree(dataset=post.assign(
        rw_sigma=(post["rw_sigma"].dims, bumped)))
    assert posterior_sbc.fit_fingerprint(again) != manifest["worlds"]["fit_fingerprint"]


class _DrawsOnly:
    """A saved fit reduced to what ``truth_quantiles`` reads: a model and its draws."""

    def __init__(self, model, posterior):
        self.data, self.posterior, self._model = {}, posterior, model

    def build_model(self, data):
        return self._model


def test_truth_quantiles_place_each_picked_draw_among_all_the_fits_draws():
    import pymc as pm

    from burden.validate import posterior_sbc, sbc_specs

    with pm.Model(coords={"k": ["a", "b"]}) as model:
        mu = pm.Normal("mu", dims="k")
        pm.Normal("y", mu.sum(), 1.0, observed=np.zeros(2))
        pm.HalfNormal("flat")
    rng = np.random.default_rng(0)
    mu_draws = rng.normal(size=(2, 50, 2))  # distinct values: no ties
    post = xr.Dataset({"mu": (("chain", "draw", "k"), mu_draws),
                       "flat": (("chain", "draw"), np.ones((2, 50)))},  # all tied
                      coords={"k": ["a", "b"]})
    spec = sbc_specs.SBCSpec(model="toy", module="x", cls="X", model_config={}, tables={},
                       sampler={}, reduction="toy")
    table = posterior_sbc.truth_quantiles(spec, _DrawsOnly(model, post), 7, seed=4)
    picks = posterior_sbc.picked_draws(100, 7, 4)
    assert len(set(picks)) == 7
    flat = mu_draws.reshape(100, 2)  # chain by chain, as ``stack(chain, draw)``
    for j, lab in enumerate(["a", "b"]):
        got = table[(table["variable"] == "mu") & (table["index"] == lab)]
        assert got["sim"].tolist() == list(range(7))
        below = (flat[:, j][None, :] < flat[picks, j][:, None]).sum(axis=1)
        np.testing.assert_allclose(got["truth_quantile"], (below + 0.5) / 100)
    # every draw equal: the truth sits in the middle
    assert (table.loc[table["variable"] == "flat", "truth_quantile"] == 0.5).all()
    # the true values are the picked draws
    got = table[(table["variable"] == "mu") & (table["index"] == "a")]["true"]
    np.testing.assert_array_equal(got, flat[picks, 0])
    # more simulations than draws are refused
    with pytest.raises(SBCWorldsError, match="has 100 draws, fewer than the 101"):
        posterior_sbc.truth_quantiles(spec, _DrawsOnly(model, post), 101, seed=4)


def test_truth_lean_separates_the_truths_picked_from_a_lean_of_the_fit():
    """PITs that equal their truths' quantiles, picked high, lean high; at an even pick
    the line gives 0.5. PITs 0.1 above their truths' quantiles give 0.6 there."""
    from burden.validate import posterior_sbc

    rng = np.random.default_rng(1)
    q = rng.beta(3, 2, size=(200, 2))  # truths picked high: mean 0.6
    rows = []
    for sim in range(200):
        for j, lab in enumerate(["a", "b"]):
            rows.append({"sim": sim, "variable": "follows", "index": lab,
                         "q": q[sim, j], "pit": q[sim, j]})
            rows.append({"sim": sim, "variable": "above", "index": lab,
                         "q": q[sim, j], "pit": min(q[sim, j] + 0.1, 0.999)})
    table = pd.DataFrame(rows)
    ranks = table.assign(status="ok")
    ranks.loc[ranks["sim"] == 0, ["status", "pit"]] = ["failed", np.nan]  # left out
    quantiles = table.rename(columns={"q": "truth_quantile"}).drop(columns="pit")
    lean = posterior_sbc.truth_lean(ranks, quantiles).set_index("variable")
    follows, above = lean.loc["follows"], lean.loc["above"]
    assert follows["simulations"] == 199
    assert follows["mean_pit"] > 0.55 and follows["pit_z"] > 5
    assert follows["slope"] == pytest.approx(1.0)
    assert follows["pit_at_half"] == pytest.approx(0.5)
    assert abs(above["pit_at_half"] - 0.6) < 0.01 and above["z"] > 10
