"""Prior sensitivity of each model's headline outputs by power-scaling (Kallioinen, Paananen,
Buerkner & Vehtari 2024, "Detecting and diagnosing prior and likelihood sensitivity with
power-scaling", Statistics and Computing 34, 57), computed with ``arviz_stats.psense``.

The prior (or the likelihood) is raised to a power alpha close to 1 (0.99 and 1.01) and the
posterior reweighted by Pareto-smoothed importance sampling, without refitting; the
sensitivity of a quantity is the rate of change of its posterior (cumulative Jensen-Shannon
distance) per unit of log alpha. Above 0.05 (the authors' threshold) a quantity is
sensitive: prior-sensitive and not likelihood-sensitive means the prior decides it ("strong
prior / weak likelihood"); both means prior and data disagree ("prior-data conflict").

The quantities checked are each model's headline outputs (``HEADLINES``): the numbers the
report quotes, not every parameter. The likelihood is that of every observed variable. The
prior power-scaled is that of the configured priors only (the ``Prior`` objects of each
model's config, marked when created: scales, means, initial levels, effective sample
sizes), not the structural terms (random-walk innovations, hierarchical effects), whose
"prior" is part of the model rather than an assumption about a parameter: Kallioinen et
al. (2024, section 2.3) power-scale only such top-level priors in hierarchical models.

Each row also names the configured prior whose own power-scaling (that prior alone scaled)
moves the output most, and that sensitivity: which assumption to look at first when an
output is flagged. The priors together can exceed the threshold when none alone does.
"""

from __future__ import annotations

from collections.abc import Callable

import arviz_stats
import pandas as pd
import xarray as xr

from burden import config
from burden.registry.keys import US, WORLD_ID
from burden.result_schemas import PRIOR_SENSITIVITY
from burden.validate.log_density import log_density, log_likelihood, model_for_densities

config.forget_unloaded_jax()  # arviz_stats brought in arviz_base

#: sensitivity above this is flagged (Kallioinen et al. 2024)
THRESHOLD = 0.05
ALPHAS = (0.99, 1.01)
#: a US market share is a headline when its posterior mean is at least this (a choice of
#: what to show, not a statistical threshold: smaller sources are not quoted)
MIN_HEADLINE_SHARE = 0.05
#: composition headlines: the two measured countries and four large modelled ones (a
#: choice of what to show; every country's shares are in the composition summary)
COMPOSITION_HEADLINE_COUNTRIES = ("USA", "CAN", "GBR", "RUS", "IND", "CHN")


def _scalar(da: xr.DataArray) -> xr.DataArray:
    """(chain, draw) draws of a selection that must be one quantity."""
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    da = da.squeeze(extra, drop=True) if extra else da
    if set(da.dims) != {"chain", "draw"}:
        raise ValueError(f"a headline must be one quantity, got dims {da.dims}")
    return da.transpose("chain", "draw").drop_vars(
        [c for c in da.coords if c not in ("chain", "draw")])


def _deaths(est) -> dict[str, xr.DataArray]:
    draws = est.target_draws()
    inp = est.inputs()
    # the last GBD year and the last year reported (projected for most countries)
    years = sorted({int(inp.last_data_year), int(draws["year"].max())})
    out = {}
    for year in years:
        out[f"World deaths {year}"] = _scalar(draws.sel(location=WORLD_ID, year=year))
        if US in draws["location"].values:
            out[f"{US} deaths {year} (GBD definition)"] = _scalar(
                draws.sel(location=US, year=year))
    return out


def _production(est) -> dict[str, xr.DataArray]:
    prod = est.production_draws()
    last = int(prod["year"].max())
    out = {f"World production {last} (t)": _scalar(prod.sum("source").sel(year=last))}
    top = prod.sel(year=last).mean(("chain", "draw")).idxmax("source").item()
    out[f"{top} production {last} (t)"] = _scalar(prod.sel(source=top, year=last))
    return out


def _markets(est) -> dict[str, xr.DataArray]:
    from burden.registry.markets import US_MARKET

    shares = est.share_draws(US_MARKET)
    last = int(shares["year"].max())
    return {f"{US_MARKET} share from {s} {last}": _scalar(shares.sel(source=s, year=last))
            for s in shares["source"].values.tolist()
            if float(shares.sel(source=s, year=last).mean()) >= MIN_HEADLINE_SHARE}


def _certified(est) -> dict[str, xr.DataArray]:
    draws = est.target_draws()
    obs = est.inputs().obs
    out = {}
    for series in ("USA:any_opioid", "USA:synthetic_opioids", "CAN:any_opioid"):
        counted = obs[(obs["series"] == series) & (obs["kind"] == "count")]
        if series in draws["series"].values and len(counted):
            year = int(counted["year"].max())  # the last year with a full-year count
            out[f"{series} deaths {year}"] = _scalar(draws.sel(series=series, year=year))
    return out


def _composition(est) -> dict[str, xr.DataArray]:
    last = int(est.years.max())
    known = set(est.modelled_draws()["location"].values.tolist())
    # the headline countries' last year only (every country-year would be 1.8 GB)
    draws = est.group_draws([c for c in COMPOSITION_HEADLINE_COUNTRIES if c in known], [last])
    out = {}
    for loc in COMPOSITION_HEADLINE_COUNTRIES:
        if loc in draws["location"].values:
            for group in ("opiate_only", "not_illicit"):
                if group in draws["group"].values:
                    out[f"{loc} share {group} {last}"] = _scalar(
                        draws.sel(location=loc, year=last, group=group))
    return out


#: fit name -> its headline outputs as (chain, draw) draws
HEADLINES: dict[str, Callable] = {"deaths": _deaths, "production": _production,
                                  "markets": _markets, "certified": _certified,
                                  "composition": _composition}


def configured_priors(est) -> list[str]:
    """The free variables whose priors are configured (marked by ``Prior.create``): the
    priors that are power-scaled."""
    with model_for_densities(est) as model:
        names = [v.name for v in model.free_RVs if getattr(v.tag, "config_prior", False)]
    if not names:
        raise ValueError(f"{type(est).__name__}: no configured prior to power-scale")
    return names


def log_prior(est, posterior: xr.Dataset) -> xr.Dataset:
    """Log density of the configured priors (``configured_priors``) at every draw."""
    return log_density(est, posterior, "prior", configured_priors(est))


def prior_sensitivity_table(est, name: str, loglik: xr.Dataset | None = None,
                            headlines: dict[str, xr.DataArray] | None = None,
                            logprior: xr.Dataset | None = None) -> pd.DataFrame:
    """model, quantity, mean, prior and likelihood sensitivity, diagnosis, and the
    configured prior whose own sensitivity is largest (``largest_prior``,
    ``largest_prior_sensitivity``; one row per headline output of ``name``, or per entry of
    ``headlines``: (chain, draw) draws). ``loglik`` and ``logprior`` (of
    ``configured_priors``), when given, are not recomputed."""
    headlines = HEADLINES[name](est) if headlines is None else headlines
    posterior = est.idata["posterior"].to_dataset()
    loglik = log_likelihood(est, posterior) if loglik is None else loglik
    logprior = log_prior(est, posterior) if logprior is None else logprior
    names = list(headlines)
    quantities = xr.Dataset({f"q{i}": headlines[n] for i, n in enumerate(names)})
    total = total_log_density(loglik)
    tree = psense_tree(quantities, logprior, total)
    prior = arviz_stats.psense(tree, group="prior", alphas=ALPHAS)
    like = arviz_stats.psense(tree, group="likelihood", alphas=ALPHAS)
    single = single_prior_sensitivities(quantities, logprior, total)
    rows = []
    for i, quantity in enumerate(names):
        p, lk = float(prior[f"q{i}"]), float(like[f"q{i}"])
        rows.append({"model": name, "quantity": quantity,
                     "mean": float(quantities[f"q{i}"].mean()),
                     "prior_sensitivity": p, "likelihood_sensitivity": lk,
                     "diagnosis": diagnosis(p, lk),
                     "largest_prior": single.loc[f"q{i}"].idxmax(),
                     "largest_prior_sensitivity": float(single.loc[f"q{i}"].max())})
    return PRIOR_SENSITIVITY.validate(pd.DataFrame(rows), lazy=True)


def psense_tree(quantities: xr.Dataset, logprior: xr.Dataset, loglik: xr.DataArray
          ) -> xr.DataTree:
    """What ``psense`` reads: the quantities as the posterior, the log prior densities to
    power-scale and the (chain, draw) total log-likelihood."""
    return xr.DataTree.from_dict({"posterior": quantities, "log_prior": logprior,
                                  "log_likelihood": xr.Dataset({"total": loglik})})


def single_prior_sensitivities(quantities: xr.Dataset, logprior: xr.Dataset,
                               loglik: xr.DataArray) -> pd.DataFrame:
    """Prior sensitivity of each quantity (rows: the variables of ``quantities``) with one
    configured prior power-scaled at a time (columns: the variables of ``logprior``, the
    densities already computed): one ``psense`` call per prior, as
    analysis/prior_sensitivity_by_prior.py. The priors together can exceed the threshold
    when none alone does."""
    if not logprior.data_vars:
        raise ValueError("single-prior sensitivity: expected at least one configured "
                         "prior's log density, got none")
    columns = {}
    for prior in logprior.data_vars:
        s = arviz_stats.psense(psense_tree(quantities, logprior[[prior]], loglik), group="prior",
                               alphas=ALPHAS)
        columns[prior] = [float(s[q]) for q in quantities.data_vars]
    return pd.DataFrame(columns, index=list(quantities.data_vars))


def total_log_density(densities: xr.Dataset) -> xr.DataArray:
    """The (chain, draw) sum of every variable and element of ``densities``: all that
    ``psense`` uses of a log-likelihood group (``_get_power_scale_weights`` sums it over a
    stacked copy of every element: for the deaths fit's 11,434 observations that copy and
    its index cost 3 s and 1.3 GB, `python analysis/memory_timeline.py summarise deaths`,
    2026-12-02)."""
    total = 0
    for var in densities.data_vars.values():
        total = total + var.sum([d for d in var.dims if d not in ("chain", "draw")])
    return total.transpose("chain", "draw")


def diagnosis(prior: float, likelihood: float, threshold: float = THRESHOLD) -> str:
    """Kallioinen et al.'s reading of the two sensitivities."""
    if prior >= threshold and likelihood >= threshold:
        return "prior-data conflict"
    if prior >= threshold:
        return "prior-driven (strong prior, weak likelihood)"
    if likelihood < threshold:
        return "weak likelihood"
    return "ok"
