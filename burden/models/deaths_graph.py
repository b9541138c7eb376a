"""The PyMC graph of the opioid-deaths model (priors are explained in docs/models/deaths.md).

Latent: log opioid deaths per country-year on the GBD definition,

    log deaths[c, t] = log(pop[c, t] / 1e5) + (B @ theta[c])[t]

with ``theta`` a P-spline (cubic B-spline coefficients following a random walk) whose start
is pooled super-region -> region -> country and whose steps are pooled the same way. This
spline is the *rounds' average*: the mean over the fitted GBD rounds of what each round
measures. Each GBD round r measures the latent deaths with its own bias

    b[r, c] = beta[r] + gamma[r, super-region(c)] + u[r, c]

+ v[r, c] * x[t] (rounds exchangeable: beta ~ N(0, tau), gamma ~ ZeroSum over
super-regions (tau_sr), u ~ N(0, omega[super-region]), a trend v ~ N(0, lambda[super-region])
per decade x[t] from the middle of the data years) and a year-to-year dispersion by
super-region. The model samples
the deviations of each round's bias from the rounds' mean (sum to zero over rounds: the
data pin them) and, apart, the rounds' mean bias itself (prior only: the data cannot tell
it), so that latent log deaths = rounds' average - mean bias carry the revision variance.
NCHS/VSRR are measurements of the rounds' average times a smooth definition ratio; the US
block adds the drug shares and the correction for unspecified drugs.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import scipy.linalg

from burden.models.deaths_data import US_DRUGS, DeathsInputs
from burden.models.trends import last_constrained_coef


def _split_effect(name: str, mu, sigma, dims: tuple[str, str], n_data: int, centred: bool):
    """Normal(mu, sigma) steps: centred (if ``centred``) for the first ``n_data`` columns,
    which the data inform, non-centred for the rest, which only the prior informs."""
    n_rows = len(pm.modelcontext(None).coords[dims[0]])
    n_cols = len(pm.modelcontext(None).coords[dims[1]])
    mu = pt.broadcast_to(pt.as_tensor(mu), (n_rows, n_cols))
    if not centred:
        return _effect(name, sigma, dims, False, mu=mu)
    data = pm.Normal(f"{name}_data", mu[:, :n_data], sigma, dims=(dims[0], f"{dims[1]}_data"))
    parts = [data]
    if n_data < n_cols:
        z = pm.Normal(f"{name}_forecast_z", 0, 1, dims=(dims[0], f"{dims[1]}_forecast"))
        parts.append(mu[:, n_data:] + z * sigma)
    return pm.Deterministic(name, pt.concatenate(parts, axis=1), dims=dims)


def _effect(name: str, sigma, dims, centred: bool, mu=0.0):
    """A normal effect, centred or non-centred (same distribution, different geometry)."""
    if centred:
        return pm.Normal(name, mu=mu, sigma=sigma, dims=dims)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mu + z * sigma, dims=dims)


def _partial_effect(name: str, parent, sigma, w, dims):
    """A Normal(0, sigma) deviation from ``parent`` sampled partially centred
    (Papaspiliopoulos, Roberts and Skold 2007, Statistical Science 22:59): the free
    ``{name}_pc`` is x~ ~ Normal(w parent, sigma ** w) and the level parent + deviation is
    parent + sigma ** (1 - w) (x~ - w parent). w = 1 samples the level itself (centred),
    w = 0 the standardised deviation (non-centred); any w in between is the same prior (a
    change of variables for each value of parent, sigma and w, which must not depend on
    x~). Returns the deviation (a Deterministic ``name``)."""
    parent = pt.as_tensor(parent)
    tilde = pm.Normal(f"{name}_pc", w * parent, sigma ** w, dims=dims)
    return pm.Deterministic(name, sigma ** (1.0 - w) * (tilde - w * parent), dims=dims)


def _split_partial(name: str, parent, sigma, w, dims: tuple[str, str], n_data: int):
    """Normal(0, sigma) deviations of rows x columns from ``parent`` (rows x columns): the
    first ``n_data`` columns (the data inform them) partially centred with weight ``w`` per
    row (``_partial_effect``), the rest (prior only) non-centred. Returns the deviations."""
    model = pm.modelcontext(None)
    n_rows, n_cols = len(model.coords[dims[0]]), len(model.coords[dims[1]])
    parent = pt.broadcast_to(pt.as_tensor(parent), (n_rows, n_cols))
    w = pt.as_tensor(w)[:, None]
    parts = [_partial_effect(f"{name}_data", parent[:, :n_data], sigma, w,
                             (dims[0], f"{dims[1]}_data"))]
    if n_data < n_cols:
        z = pm.Normal(f"{name}_forecast_z", 0, 1, dims=(dims[0], f"{dims[1]}_forecast"))
        parts.append(z * sigma)
    return pt.concatenate(parts, axis=1)


#: the names of ``decomposed_scales``' two free variables
SCALE_NORM2, SCALE_SHARES = "tau_step_norm2", "tau_step_shares"


def decomposed_scales(tau_prior, names: tuple[str, ...]):
    """Scales ``names``, each HalfNormal(s) and independent, sampled as their total and its
    split: u_i = tau_i / s are half-normal, so sum u_i^2 ~ ChiSquared(k) = Gamma(k/2, 1/2)
    and the proportions u_i^2 / sum ~ Dirichlet(1/2, ..., 1/2), independent of the sum
    (the chi-squared and Dirichlet of independent Gammas with one rate). The same prior as
    k independent HalfNormals, exactly; where the data pin only the total step variance
    (tau_super^2 + tau_region^2 + tau_country^2, docs/models/deaths.md "Prior worlds") the
    sampler moves along the split, a straight line in the simplex, instead of a curved
    ridge in the scales. ``tau_prior`` must be HalfNormal (``DeathsConfig`` refuses another
    with ``step_scales='decomposed'``). Returns the scales (Deterministics ``names``)."""
    k = len(names)
    model = pm.modelcontext(None)
    model.add_coord("step_scale", list(names))
    norm2 = pm.Gamma(SCALE_NORM2, alpha=k / 2.0, beta=0.5)
    shares = pm.Dirichlet(SCALE_SHARES, a=np.full(k, 0.5), dims="step_scale")
    for rv in (norm2, shares):
        rv.tag.config_prior = True  # together they are the configured tau_step prior
    u = pt.sqrt(norm2 * shares)
    return tuple(pm.Deterministic(name, tau_prior["sigma"] * u[i])
                 for i, name in enumerate(names))


def group_weights(inp: DeathsInputs, s_super, s_region, s_country):
    """Partial-centring weights (super-region, region) of a two-level hierarchy over the
    countries: each level's Gaussian shrinkage weight, its prior variance against the
    variance of what its members tell it, treating the countries' own values as known
    (the data pin them): a region of n countries sees their mean, variance s_country^2 / n;
    a super-region of m regions sees their mean, (s_region^2 + s_country^2 / n-bar) / m."""
    has_pop = inp.has_population
    n_regions, n_super = len(inp.region_ids), len(inp.super_region_ids)
    n_c = np.maximum(np.bincount(inp.country_region[has_pop], minlength=n_regions), 1)
    m_s = np.maximum(np.bincount(inp.region_super, minlength=n_super), 1)
    n_bar = (np.bincount(inp.region_super, weights=n_c, minlength=n_super) / m_s)
    v_region = s_region ** 2
    w_region = v_region / (v_region + s_country ** 2 / n_c)
    v_super = s_super ** 2
    w_super = v_super / (v_super + (v_region + s_country ** 2 / n_bar) / m_s)
    return w_super, w_region


def coords(inp: DeathsInputs) -> dict:
    out = {
        "country": inp.countries,
        "region": inp.region_ids,
        "super_region": inp.super_region_ids,
        "year": inp.years,
        "step": np.arange(1, inp.basis.shape[1]),
        "coef": np.arange(inp.basis.shape[1]),
        "coef_data": np.arange(inp.n_constrained + 1),
        "coef_forecast": np.arange(inp.n_constrained + 1, inp.basis.shape[1]),
        "step_data": np.arange(1, inp.n_constrained + 1),
        "step_forecast": np.arange(inp.n_constrained + 1, inp.basis.shape[1]),
        "gbd_obs": np.arange(len(inp.gbd_log_deaths)),
        "gbd_censored_obs": np.arange(len(inp.cens_country)),
        "super_region_sigma": inp.super_region_ids,
        "gbd_round": inp.rounds,
        "round_contrast": np.arange(len(inp.rounds) - 1),
    }
    if inp.us is not None:
        us = inp.us
        out.update({
            "us_year": us.years,
            "drug": list(US_DRUGS),
            "share_drug": list(US_DRUGS[1:]),
            "us_coef": np.arange(us.basis.shape[1]),
            "us_coef_data": np.arange(us.n_constrained + 1),
            "us_coef_forecast": np.arange(us.n_constrained + 1, us.basis.shape[1]),
            "us_ratio_coef": np.arange(us.n_ratio),
            "us_ratio_step": np.arange(1, us.n_ratio),
            "us_year_data": us.years[:us.cert_last + 1],
            "us_year_free": np.arange(spline_residual_basis(inp).shape[1]),
            "ratio": ["gbd_to_nchs"],
            "nchs_obs": np.arange(len(us.nchs_log)),
            "vsrr_obs": np.arange(len(us.vsrr_log)),
        })
    return out


def _rw_logp(value, mu0, sd0, drift, tau):
    first = pm.logp(pm.Normal.dist(mu0[..., 0], sd0[..., 0]), value[..., 0])
    rest = pm.logp(pm.Normal.dist(drift[..., 1:], tau), value[..., 1:] - value[..., :-1])
    return pt.concatenate([first[..., None], rest], axis=-1)


def _rw_random(mu0, sd0, drift, tau, rng=None, size=None):
    mu0, sd0, drift = (np.broadcast_to(a, size) for a in (mu0, sd0, drift))
    first = rng.normal(mu0[..., :1], sd0[..., :1])
    steps = rng.normal(drift[..., 1:], tau)
    return np.concatenate([first, first + np.cumsum(steps, axis=-1)], axis=-1)


def random_walk(name: str, mu0, sd0, drift, tau, dims):
    """Rows start at Normal(mu0, sd0) and step by Normal(drift, tau); the value is the walk
    itself (centred). ``drift`` has one column fewer than the walk."""
    n = drift.shape[0]
    drift_full = pt.concatenate([pt.zeros((n, 1)), drift], axis=-1)
    return pm.CustomDist(name, mu0[:, None], sd0[:, None], drift_full, tau, logp=_rw_logp,
                         random=_rw_random, dims=dims)


def hybrid_walk(name: str, init_mu, init_sd, drift, tau, n_fit: int, dims: tuple[str, str],
                n_coef: int, centred_rows: tuple[int, ...] = ()):
    """Rows of a random walk, centred on the first ``n_fit`` coefficients (pinned by data)
    and non-centred after them (prior only: a centred walk there would be a funnel).
    ``centred_rows``: rows whose later coefficients other data pin too (the US, by NCHS
    and VSRR counts past the GBD years), centred throughout, as
    ``{name}_forecast_centred`` (coords ``{dims[0]}_forecast_centred``); the other rows'
    ``{name}_forecast_z`` then has the coords ``{dims[0]}_forecast_z``.

    ``drift`` has ``n_coef - 1`` columns; the coords ``{dims[1]}_data`` and
    ``{dims[1]}_forecast`` must exist in the model.
    """
    fitted = random_walk(f"{name}_data", init_mu, init_sd, drift[:, :n_fit - 1], tau,
                         dims=(dims[0], f"{dims[1]}_data"))
    theta = fitted
    if n_fit < n_coef:
        # [:, -1, None], not [:, -1:]: PyTensor broadcasts only statically known 1-dims
        last, ahead = fitted[:, -1, None], drift[:, n_fit - 1:]
        if not centred_rows:
            z = pm.Normal(f"{name}_forecast_z", 0, 1, dims=(dims[0], f"{dims[1]}_forecast"))
            future = last + pt.cumsum(ahead + z * tau, -1)
        else:
            model = pm.modelcontext(None)
            n_rows = len(model.coords[dims[0]])
            centred = sorted(set(centred_rows))
            other = [i for i in range(n_rows) if i not in centred]
            z = pm.Normal(f"{name}_forecast_z", 0, 1,
                          dims=(f"{dims[0]}_forecast_z", f"{dims[1]}_forecast"))
            free = last[other] + pt.cumsum(ahead[other] + z * tau, -1)
            # a centred walk continuing each row's fitted coefficients (its first value is
            # one step, drift plus Normal(0, tau), past the last fitted one)
            tau_rows = pt.broadcast_to(pt.as_tensor(tau), (len(centred),))
            pinned = random_walk(f"{name}_forecast_centred", last[centred, 0] + ahead[centred, 0],
                                 tau_rows, ahead[centred, 1:], tau,
                                 dims=(f"{dims[0]}_forecast_centred", f"{dims[1]}_forecast"))
            order = np.argsort(np.array(other + centred))
            future = pt.concatenate([free, pinned], 0)[order]
        theta = pt.concatenate([fitted, future], -1)
    return pm.Deterministic(name, theta, dims=dims)


def _us_pinned_rows(inp: DeathsInputs, cfg) -> tuple[int, ...]:
    """The US row when its coefficients past the GBD years are sampled centred
    (``cfg.us_forecast == "centred"``) and the US certified counts (NCHS, VSRR) touch every
    one of them; adds the coords ``hybrid_walk`` needs for a split forecast. Empty
    otherwise: a back-test cut leaves them to the prior, where a centred walk funnels."""
    n_coef = inp.basis.shape[1]
    if (cfg.us_forecast != "centred" or inp.us is None or "USA" not in inp.countries
            or inp.n_constrained + 1 >= n_coef):
        return ()
    us_last = int(inp.us.years[0]) + int(inp.us.cert_last)  # last year with US counts
    n_years = min(us_last - int(inp.years[0]) + 1, inp.basis.shape[0])
    if last_constrained_coef(inp.basis, n_years) + 1 < n_coef:
        return ()
    us = inp.countries.index("USA")
    model = pm.modelcontext(None)
    model.add_coord("country_forecast_z", [c for c in inp.countries if c != "USA"])
    model.add_coord("country_forecast_centred", ["USA"])
    return (us,)


def build(inp: DeathsInputs, cfg) -> pm.Model:
    """The model for ``inp`` with the settings and priors of ``cfg`` (a ``DeathsConfig``)."""
    centred = cfg.country_effects == "centred"
    pri = cfg.priors
    has_pop = inp.has_population
    offset = np.where(has_pop[:, None], np.log(np.nan_to_num(inp.population, nan=1.0) / 1e5),
                      0.0)
    sr = inp.country_super
    rg = inp.country_region
    with pm.Model(coords=coords(inp)) as model:
        # --- levels: log rate per 100,000 at the first year
        mu = pri.mu_global.create("mu_global")
        s_super = pri.sigma_super_region.create("sigma_super_region")
        s_region = pri.sigma_level.create("sigma_region")
        s_country = pri.sigma_level.create("sigma_country")
        if cfg.group_levels == "partial":
            w_super, w_region = group_weights(inp, s_super, s_region, s_country)
            a_super = _partial_effect("super_region_level", mu, s_super, w_super,
                                      "super_region")
            a_region = _partial_effect("region_level", (mu + a_super)[inp.region_super],
                                       s_region, w_region, "region")
        else:
            group_centred = cfg.group_levels == "centred"
            a_super = _effect("super_region_level", s_super, "super_region", group_centred)
            a_region = _effect("region_level", s_region, "region", group_centred)
        level_mean = mu + a_super[sr] + a_region[rg]
        # countries without population: the level is log deaths, not a rate, so it is not
        # pooled (its own wide prior)
        nopop_mu, nopop_sd = pri.nopop_log_deaths["mu"], pri.nopop_log_deaths["sigma"]
        init_mu = pt.where(has_pop, level_mean, nopop_mu)
        init_sd = pt.where(has_pop, s_country, nopop_sd)

        # --- trend steps (P-spline random walk), pooled the same way
        if cfg.step_scales == "decomposed":
            t_super, t_region, t_country = decomposed_scales(
                pri.tau_step, ("tau_super_region", "tau_region", "tau_country"))
        else:
            t_super = pri.tau_step.create("tau_super_region")
            t_region = pri.tau_step.create("tau_region")
            t_country = pri.tau_step.create("tau_country")
        # --- GBD round biases (before the coefficients: the walk is anchored on them)
        partial_rounds = cfg.round_biases == "partial"
        # partially centred round biases need the GBD dispersion first; otherwise it comes
        # with the likelihood (version 6's order of variables: the same draws for a seed)
        s_gbd = (pri.sigma_gbd.create("sigma_gbd", dims="super_region_sigma")
                 if partial_rounds else None)
        level, trend = _round_biases(inp, pri, s_gbd, partial_rounds,
                                     shared_trend_scale=cfg.round_trend_scale == "world")
        n_data_steps = inp.n_constrained  # steps between coefficients the data touch
        if cfg.group_steps == "partial":
            w_super, w_region = group_weights(inp, t_super, t_region, t_country)
            d_super = pm.Deterministic("super_region_step", _split_partial(
                "super_region_step", 0.0, t_super, w_super, ("super_region", "step"),
                n_data_steps), dims=("super_region", "step"))
            parent = d_super[inp.region_super]
            d_region = pm.Deterministic("region_step", parent + _split_partial(
                "region_step", parent, t_region, w_region, ("region", "step"),
                n_data_steps), dims=("region", "step"))
        else:
            d_super = _split_effect("super_region_step", 0.0, t_super,
                                    ("super_region", "step"), n_data_steps, False)
            d_region = _split_effect("region_step", d_super[inp.region_super], t_region,
                                     ("region", "step"), n_data_steps, False)
        step_mean = d_region[rg]
        if level is not None:
            # each country's anchor round's deviation, in B-spline coefficients
            a = inp.round_anchor
            shift = (level[np.arange(len(a)), a][:, None]
                     + trend[np.arange(len(a)), a][:, None] * inp.round_trend_coef)
        if centred:
            # centred in coefficient space where data pin the coefficients down (the sampler
            # moves them, not their differences, which the data make correlated);
            # non-centred past the data, where only the prior speaks (a centred walk there
            # couples every country to the hyper-parameters: a funnel)
            pinned = _us_pinned_rows(inp, cfg)
            if level is None:
                theta = hybrid_walk("country_coef", init_mu, init_sd, step_mean, t_country,
                                    inp.n_constrained + 1, ("country", "coef"),
                                    inp.basis.shape[1], centred_rows=pinned)
            else:
                # anchored on a round: the walk's value is the country's curve as its anchor
                # round measures it (rounds' average + that round's deviation, a linear
                # function of time, exact in the B-spline coefficients), which the data pin
                # down; the rounds' average is that minus the deviation. Sampling the
                # average itself left a ridge between it and the deviation wherever one
                # round says little (countries in one round, rounded zeros): R-hat 1.15
                anchored = hybrid_walk(
                    "country_anchored_coef", init_mu + shift[:, 0], init_sd,
                    step_mean + shift[:, 1:] - shift[:, :-1], t_country,
                    inp.n_constrained + 1, ("country", "coef"), inp.basis.shape[1],
                    centred_rows=pinned)
                theta = pm.Deterministic("country_coef", anchored - shift,
                                         dims=("country", "coef"))
        else:
            z0 = pm.Normal("country_level_z", 0, 1, dims="country")
            z = pm.Normal("country_step_z", 0, 1, dims=("country", "step"))
            level0 = init_mu + z0 * init_sd
            theta = pm.Deterministic(
                "country_coef",
                pt.concatenate([level0[:, None],
                                level0[:, None] + pt.cumsum(step_mean + z * t_country, -1)], -1),
                dims=("country", "coef"))
            if level is not None:
                anchored = pm.Deterministic("country_anchored_coef", theta + shift,
                                            dims=("country", "coef"))
        log_rate = pt.dot(theta, inp.basis.T)
        log_deaths = log_rate + offset
        # NCHS/VSRR measure the anchor round's curve (for the US: the round with most
        # values) times the definition ratio: linked to the rounds' average instead, the
        # ratio traded off against the US round deviation (divergences at small tau_ratio)
        us_curve = log_deaths if level is None else pt.dot(anchored, inp.basis.T) + offset
        if (inp.us is not None and cfg.us_year_effects != "none"
                and spline_residual_basis(inp).shape[1] > 0):
            # the US curve's departure from its spline in each year certified counts cover
            # (shared by every source: the deaths themselves); a 5-year spline alone cut the
            # corner of the 2019-2020 jump (docs/models/deaths.md, "Version 8")
            us_row = np.zeros((len(inp.countries), 1))
            us_row[inp.countries.index("USA")] = 1.0
            year_effect = us_row * _us_year_effects(inp, pri, cfg.us_year_effects)[None, :]
            us_curve = us_curve + year_effect
            log_deaths = log_deaths + year_effect

        # --- GBD rounds: each a measurement with its own bias and dispersion
        _gbd_likelihood(inp, log_deaths, level, trend, s_gbd, pri)
        if inp.us is not None:
            _us_block(inp, us_curve[inp.countries.index("USA")], pri, cfg.definition_ratio)
    return model


def _us_year_effects(inp: DeathsInputs, pri, form: str):
    """(year) the US curve's effect of each year from the first US year to the last with
    certified counts, 0 in the other years: white noise N(0, sigma_us_year^2) projected
    onto what no spline curve can make over those years (``spline_residual_basis``), so
    the effects cannot trade off against the US spline's coefficients (unprojected iid
    effects did: R-hat 1.016 at the US coefficient 8, centred and non-centred, 2026-12-07).
    Sampled as the coordinates ``w`` of that subspace, ~ N(0, sigma_us_year^2) each:
    ``form`` 'centred' (w) or 'non_centred' (w / sigma_us_year)."""
    us = inp.us
    basis = spline_residual_basis(inp)
    scale = pri.sigma_us_year.create("sigma_us_year")
    if form == "centred":
        w = pm.Normal("us_year_effect_w", 0.0, scale, dims="us_year_free")
    else:
        z = pm.Normal("us_year_effect_z", 0.0, 1.0, dims="us_year_free")
        w = z * scale
    effect = pm.Deterministic("us_year_effect", pt.dot(basis, w), dims="us_year_data")
    return pt.set_subtensor(pt.zeros(len(inp.years))[us.offset:us.offset + basis.shape[0]],
                            effect)


def spline_residual_basis(inp: DeathsInputs) -> np.ndarray:
    """(n years, m) orthonormal basis of the US year effects no spline curve can make:
    the orthogonal complement of the country spline basis over the US years through the
    last certified year (n of them). The Householder QR, with column pivoting, of the
    projection onto that complement: a fixed algorithm, so the same basis on every machine
    up to rounding (an SVD's basis of it may be any rotation; Gram-Schmidt of its columns
    lost orthogonality, a column of norm 4e-6 taken for a direction, 2026-12-07)."""
    us = inp.us
    n = us.cert_last + 1
    b = inp.basis[us.offset:us.offset + n]
    q = np.linalg.qr(b[:, np.abs(b).sum(0) > 0])[0]  # the B-splines on those years
    residual = np.eye(n) - q @ q.T
    out, r, _ = scipy.linalg.qr(residual, pivoting=True, mode="economic")
    m = int((np.abs(np.diag(r)) > 1e-8).sum())
    if m != n - q.shape[1]:
        raise ValueError(f"the US year effects' basis has {m} directions, not "
                         f"{n} years - {q.shape[1]} splines")
    return out[:, :m]


def contrast_basis(n: int) -> np.ndarray:
    """An n x (n - 1) orthonormal basis of the vectors summing to zero (Helmert): iid
    Normal(0, s) coordinates map to a ZeroSumNormal(s) over the n entries."""
    h = np.zeros((n, n - 1))
    for k in range(1, n):
        h[:k, k - 1] = 1.0
        h[k, k - 1] = -k
        h[:, k - 1] /= np.sqrt(k * (k + 1))
    return -h  # for two rounds: (-1, +1) / sqrt(2), the later round above


#: stands for "no data" in a precision ratio (a finite number: an infinite one gives NaN
#: gradients)
NO_DATA = 1e6


def round_information(inp: DeathsInputs) -> tuple[np.ndarray, np.ndarray]:
    """Per country, the variances (in units of the GBD dispersion squared) with which its
    GBD rows tell a round contrast of its bias level and of its bias trend: the mean over
    rounds of 1 / (rows of the round) and of 1 / (sum of the rows' squared decades x);
    ``NO_DATA`` where a round has no row of the country."""
    n_c, n_r = len(inp.countries), len(inp.rounds)
    count, sxx = np.zeros((n_c, n_r)), np.zeros((n_c, n_r))
    np.add.at(count, (inp.gbd_country, inp.gbd_round), 1.0)
    np.add.at(sxx, (inp.gbd_country, inp.gbd_round),
              np.asarray(inp.round_trend_x)[inp.gbd_year] ** 2)
    inv_n = np.where(count > 0, 1.0 / np.maximum(count, 1.0), NO_DATA).mean(axis=1)
    inv_sxx = np.where(sxx > 0, 1.0 / np.maximum(sxx, 1e-12), NO_DATA).mean(axis=1)
    return np.minimum(inv_n, NO_DATA), np.minimum(inv_sxx, NO_DATA)


def _round_biases(inp: DeathsInputs, pri, s_gbd, partial: bool = True,
                  shared_trend_scale: bool = False):
    """The GBD rounds' bias parameters. Returns (level, trend): each country's deviation of
    every round's bias from the rounds' mean, country x round tensors (None for one round).

    A round's bias in country c and year t: beta[r] + gamma[r, s(c)] + u[r, c]
    + v[r, c] * x[t] (x: decades from the middle of the data years): world, super-region,
    country level and country trend parts, each exchangeable over rounds."""
    sr = inp.country_super
    n_rounds = len(inp.rounds)
    tau = pri.round_bias_sd.create("round_bias_sd")
    tau_sr = pri.round_super_region_sd.create("round_super_region_sd")
    omega = pri.round_country_sd.create("round_country_sd", dims="super_region_sigma")
    if shared_trend_scale:
        # one scale for every super-region, learnt from all countries' round trends (a
        # super-region's own scale rests on one round contrast per country of it: docs/
        # models/deaths.md, "One round-trend scale for the world"); kept by super-region
        # for the code that reads it
        lam_world = pri.round_trend_sd.create("round_trend_world_sd")
        lam = pm.Deterministic("round_trend_sd",
                               pt.ones(len(inp.super_region_ids)) * lam_world,
                               dims="super_region_sigma")
    else:
        lam = pri.round_trend_sd.create("round_trend_sd", dims="super_region_sigma")
    # the rounds' mean bias (each part averaged over the R rounds, N(0, scale^2 / R)) is
    # not informed by the data: it is drawn after sampling from these scales
    # (``OpioidDeaths._country_log_deaths``); with one round the scales are their priors
    if n_rounds == 1:
        return None, None
    # deviations of each round's bias from the rounds' mean: sum to zero over rounds.
    # Sampled in R - 1 orthonormal contrasts of the rounds (``contrast_basis``: iid normals
    # there are a ZeroSumNormal over rounds), hierarchically centred: each country's total
    # deviation ~ N(world + super-region part, omega), which the data pin down (a sum of
    # separately sampled parts was a flat ridge: R-hat 2.5)
    h = contrast_basis(n_rounds)  # round x contrast
    if partial:
        # every part partially centred (``_partial_effect``): each country's by its own GBD
        # rows (the shrinkage weight of its contrast against the GBD dispersion,
        # ``round_information``), a super-region's by its countries' mean, the world's by
        # the super-regions' mean; the super-region parts share one weight (the mean), so
        # that scaling keeps their sum zero
        inv_n, inv_sxx = round_information(inp)
        var_gbd = s_gbd[sr] ** 2
        var_u = omega[sr] ** 2 + var_gbd * inv_n  # what a country says of its parent
        n_sr = np.bincount(sr, minlength=len(inp.super_region_ids))
        var_g = pt.stack([var_u[sr == k].mean() / max(int(n_sr[k]), 1)
                          for k in range(len(n_sr))])
        w_g = (tau_sr ** 2 / (tau_sr ** 2 + var_g)).mean()
        w_b = tau ** 2 / (tau ** 2 + (tau_sr ** 2 + var_g.mean()) / len(n_sr))
        b_e = _partial_effect("round_bias_e", 0.0, tau, w_b, "round_contrast")
        g_tilde = pm.ZeroSumNormal("round_super_region_bias_e_pc", tau_sr ** w_g,
                                   dims=("round_contrast", "super_region"))
        g_e = pm.Deterministic("round_super_region_bias_e", tau_sr ** (1.0 - w_g) * g_tilde,
                               dims=("round_contrast", "super_region"))
    else:
        b_e = pm.Normal("round_bias_e", 0, tau, dims="round_contrast")
        g_e = pm.ZeroSumNormal("round_super_region_bias_e", tau_sr,
                               dims=("round_contrast", "super_region"))
    parent = b_e[None, :] + g_e.T[sr]
    if partial:
        w_u = (omega[sr] ** 2 / var_u)[:, None]
        w_v = (lam[sr] ** 2 / (lam[sr] ** 2 + var_gbd * inv_sxx))[:, None]
        dev = _partial_effect("round_country_bias_offset", parent, omega[sr][:, None], w_u,
                              ("country", "round_contrast"))
        u_e = pm.Deterministic("round_country_bias_e", parent + dev,
                               dims=("country", "round_contrast"))
        v_e = _partial_effect("round_trend_e", 0.0, lam[sr][:, None], w_v,
                              ("country", "round_contrast"))
    else:
        u_e = pm.Normal("round_country_bias_e", parent, omega[sr][:, None],
                        dims=("country", "round_contrast"))
        v_e = pm.Normal("round_trend_e", 0, lam[sr][:, None],
                        dims=("country", "round_contrast"))
    pm.Deterministic("round_bias_dev", pt.dot(h, b_e), dims="gbd_round")
    pm.Deterministic("round_super_region_bias_dev", pt.dot(g_e.T, h.T),
                     dims=("super_region", "gbd_round"))
    level = pm.Deterministic("round_country_bias_dev", pt.dot(u_e, h.T),
                             dims=("country", "gbd_round"))
    trend = pm.Deterministic("round_trend_dev", pt.dot(v_e, h.T),
                             dims=("country", "gbd_round"))
    return level, trend


def _gbd_likelihood(inp: DeathsInputs, log_deaths, level, trend, s_gbd, pri) -> None:
    """GBD round r measures ``log_deaths`` (the rounds' average) + its bias's deviation from
    the rounds' mean bias, with lognormal dispersion by super-region (shared by the rounds)
    plus the rounding of values published in whole deaths; zeros are left-censored at 0.5."""
    sr = inp.country_super
    x = inp.round_trend_x  # per year of the latent grid
    if s_gbd is None:
        s_gbd = pri.sigma_gbd.create("sigma_gbd", dims="super_region_sigma")

    # each round's mean on the dense (country, year, round) grid, then one 1-D gather per
    # observed variable: 2-D fancy indexing (``log_deaths[c, t]``, ``level[c, r]``) and its
    # gradient (scatter-adds over 10,709 values) were half of each gradient's cost
    # (PyTensor profile, 2026-11-30: 311 -> 270 us per log density and gradient)
    n_c, n_t = len(inp.countries), len(inp.years)
    n_r = 1 if level is None else len(inp.rounds)
    if level is None:
        grid = log_deaths[:, :, None]
    else:
        grid = (log_deaths[:, :, None] + level[:, None, :]
                + trend[:, None, :] * pt.as_tensor(x)[None, :, None])
    flat = grid.reshape((n_c * n_t * n_r,))

    def mean(c, t, r):
        return flat[(np.asarray(c) * n_t + np.asarray(t)) * n_r
                    + (0 if level is None else np.asarray(r))]

    c, t, r = inp.gbd_country, inp.gbd_year, inp.gbd_round
    sd = pt.sqrt(s_gbd[sr[c]] ** 2 + inp.gbd_rounding_sd ** 2)
    pm.Normal("gbd_log_deaths", mu=mean(c, t, r), sigma=sd, observed=inp.gbd_log_deaths,
              dims="gbd_obs")
    if len(inp.cens_country):
        c, t, r = inp.cens_country, inp.cens_year, inp.cens_round
        # a value printed as 0 is below 0.5 deaths: left-censored at log(0.5) (an observed
        # Censored variable, not a Potential, so predictive checks and LOO see it)
        pm.Censored("gbd_below_half", pm.Normal.dist(mean(c, t, r), s_gbd[sr[c]]),
                    lower=np.log(0.5), upper=None,
                    observed=np.full(len(c), np.log(0.5)), dims="gbd_censored_obs")


def _ratio_basis(us) -> np.ndarray:
    """The US basis over the years the definition ratio varies (to ``ratio_last``), its
    held coefficients folded into the last walked one (they equal it)."""
    b = us.basis[:us.ratio_last + 1]
    return np.concatenate([b[:, :us.n_ratio - 1], b[:, us.n_ratio - 1:].sum(1, keepdims=True)],
                          1)


#: ridge of ``sheared_ratio_projection``, relative to the largest column's sum of squares
SHEAR_RIDGE = 0.01


def sheared_ratio_projection(us) -> np.ndarray:
    """(n_ratio, ratio_last + 1) map from a US curve over the years the definition ratio
    varies to the ratio's walked coefficients (the held ones folded into the last walked
    one, as the ratio's curve holds them): least squares with a small ridge.
    ``definition_ratio="sheared"`` samples the walked coefficients plus this projection of
    the US GBD-definition curve, so what the certified counts pin is nearly one free
    vector, not a sum of two. Without the ridge the map is ill-conditioned: on the real
    design the last walked coefficient barely touches the years up to GBD's last (its
    column's sum of squares < 0.001; condition number 4,513), and its row of the exact
    least-squares map had norm 2,785, tying that coefficient to the US curve (2026-12-03).
    Any linear map gives the same model; this one only has to be well conditioned."""
    b = _ratio_basis(us)
    gram = b.T @ b
    ridge = SHEAR_RIDGE * float(np.diag(gram).max())
    return np.linalg.solve(gram + ridge * np.eye(len(gram)), b.T)


#: nominal error of a certified any-opioid count on the log scale, for the shear weights
#: only: the prior median of ``sigma_nchs`` (exp(-2.9957) = 0.05, ``DeathsPriors``); the
#: weights may be any function of variables other than the ratio (Jacobian 1 still)
SHEAR_NOMINAL_SD = 0.05


def ratio_shear_weights(us, tau_r, r_sd: float):
    """Weights of ``definition_ratio="partly_sheared"`` on the walked coefficients: v / (v +
    e), with v a coefficient's prior variance given its neighbours in the walk (tau_r^2 / 2
    inside, about tau_r^2 at the ends: the start's own sd ``r_sd`` is far wider) and e the
    error variance the certified any-opioid counts leave on it (``SHEAR_NOMINAL_SD``). Near
    1 where the counts pin the sum of curve and ratio far better than the walk pins the
    ratio locally (shear fully); near 0 where the walk does (no shear). The marginal prior
    variance would not do: the start's wide prior makes it large for every coefficient."""
    n_ratio = us.n_ratio
    # NCHS and VSRR any-opioid years both count, each at the nominal error (years with
    # both, 2015 on, count twice: two measurements)
    years = np.concatenate([us.nchs_year[us.nchs_drug == 0], us.vsrr_year[us.vsrr_drug == 0]])
    years = years[years <= us.ratio_last]
    info = (_ratio_basis(us)[years] ** 2).sum(0) / SHEAR_NOMINAL_SD ** 2
    half = np.full(n_ratio, 0.5)
    half[-1] = 1.0  # the last walked coefficient has one neighbour
    v = pt.concatenate([pt.reshape(1.0 / (1.0 / r_sd ** 2 + 1.0 / tau_r ** 2), (1,)),
                        tau_r ** 2 * half[1:]])
    return v * info / (1.0 + v * info)


def _us_block(inp: DeathsInputs, us_log_deaths, pri, ratio_form: str = "centred") -> None:
    us = inp.us
    n_years = len(us.years)
    eta = us_log_deaths[us.offset:us.offset + n_years]
    n_coef, n_fit = us.basis.shape[1], us.n_constrained + 1
    # NCHS reported (multiple-cause) any-opioid count / GBD latent: a smooth log ratio
    # (P-spline), so definitions may drift apart; centred where data pin it down
    r_mu, r_sd = pri.definition_log_ratio["mu"], pri.definition_log_ratio["sigma"]
    tau_r = pri.tau_ratio.create("tau_definition_ratio")
    # walk over the coefficients GBD data touch (the others held); after GBD's last year
    # the ratio is held at its value then: certified counts alone cannot split a change between the ratio and
    # the GBD-definition curve (sampling both gave a ridge: R-hat 1.022 at the 2020-2024
    # ratio, 2026-11-30), so they move the curve, and the ratio's drift there is drawn
    # after sampling from tau (``OpioidDeaths._us_ratio_drift``)
    n_ratio = us.n_ratio
    start = pt.as_tensor([float(r_mu)])
    if ratio_form == "centred":
        walked = random_walk("definition_log_ratio_walk", start, pt.as_tensor([float(r_sd)]),
                             pt.zeros((1, n_ratio - 1)), tau_r, dims=("ratio", "us_ratio_coef"))
    elif ratio_form in ("sheared", "partly_sheared"):
        # the same centred walk, shifted by the projection of the US curve: W = walk +
        # shift is a walk starting at start + shift[0] with drift diff(shift) (a shift by
        # other variables: Jacobian 1, the same prior); the certified counts pin eta +
        # ratio ~ basis @ W up to the ridge's residual, so W is nearly free of the US
        # curve, which GBD rows pin
        # 'partly_sheared': the shift weighted by ratio_shear_weights (a function of tau_r,
        # not of the ratio: Jacobian 1 still), so a ratio its prior pins is not sheared
        shift = pt.dot(sheared_ratio_projection(us), eta[:us.ratio_last + 1])
        if ratio_form == "partly_sheared":
            shift = shift * ratio_shear_weights(us, tau_r, float(r_sd))
        moved = random_walk("definition_log_ratio_sheared", start + shift[:1],
                            pt.as_tensor([float(r_sd)]), pt.diff(shift)[None, :], tau_r,
                            dims=("ratio", "us_ratio_coef"))
        walked = moved - shift[None, :]
    else:  # every step non-centred: for data that pin the ratio weakly (docs: back-test)
        first = pm.Normal("definition_log_ratio_start", float(r_mu), float(r_sd), dims="ratio")
        z = pm.Normal("definition_log_ratio_z", 0, 1, dims=("ratio", "us_ratio_step"))
        walked = pt.concatenate([first[:, None], first[:, None] + pt.cumsum(z * tau_r, -1)],
                                -1)
    held = pt.repeat(walked[:, -1:], n_coef - n_ratio, axis=1)
    ratio_coef = pm.Deterministic("definition_log_ratio_coef",
                                  pt.concatenate([walked, held], -1), dims=("ratio", "us_coef"))
    ratio = pt.dot(ratio_coef, us.basis.T)[0]
    k = us.ratio_last
    ratio = pm.Deterministic("us_definition_log_ratio", pt.concatenate(
        [ratio[:k + 1], pt.repeat(ratio[k:k + 1], n_years - k - 1)]), dims="us_year")
    # shares of any-opioid deaths involving heroin, synthetic, Rx opioids (they overlap)
    s_mu, s_sd = pri.share_logit_level["mu"], pri.share_logit_level["sigma"]
    t_share = pri.tau_step.create("tau_share")
    n_share = len(US_DRUGS) - 1
    share_coef = hybrid_walk("share_logit_coef", pt.as_tensor(np.full(n_share, float(s_mu))),
                             pt.as_tensor(np.full(n_share, float(s_sd))),
                             pt.zeros((n_share, n_coef - 1)), t_share, n_fit,
                             ("share_drug", "us_coef"), n_coef)
    share_logit = pt.dot(share_coef, us.basis.T)
    log_share = pt.concatenate([pt.zeros((1, n_years)), pt.log(pt.sigmoid(share_logit))],
                               axis=0)
    log_share = pm.Deterministic("us_log_share", log_share, dims=("drug", "us_year"))
    # no correction for certificates that name no drug here: it is bounded, and fitted to
    # every VSRR month, in ``CertifiedDeaths`` (the certified estimand's model); this block
    # only links the certified counts to the GBD curve
    log_reported = eta[None, :] + ratio[None, :] + log_share
    # error scale per drug series: certified counts are near census, so what the smooth
    # curves cannot follow is the error, and that differs by series (measured on the 2014
    # cut fit, 2026-11-29: residual rms 0.035 any opioid, 0.028 Rx, 0.056 heroin, 0.089
    # synthetic with the 2006 fentanyl spike); one shared scale (0.074) let the synthetic
    # series loosen the any-opioid fit, and with it the definition ratio
    s_nchs = pri.sigma_nchs.create("sigma_nchs", dims="drug")
    pm.Normal("nchs_log_deaths", mu=log_reported[us.nchs_drug, us.nchs_year],
              sigma=s_nchs[us.nchs_drug], observed=us.nchs_log, dims="nchs_obs")
    if len(us.vsrr_log):
        s_vsrr = pri.sigma_nchs.create("sigma_vsrr", dims="drug")
        pm.Normal("vsrr_log_deaths", mu=log_reported[us.vsrr_drug, us.vsrr_year],
                  sigma=pt.sqrt(s_vsrr[us.vsrr_drug] ** 2 + us.vsrr_extra_sd ** 2),
                  observed=us.vsrr_log, dims="vsrr_obs")
