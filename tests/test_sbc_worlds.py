"""Worlds like ours (``burden.validate.sbc_worlds``, ``sbc.simulate_worlds``): the deaths
data summaries on a hand-made design, the bands, and the kept worlds as a prefix-stable,
data-only subset of the prior worlds with their own seeds (on a fake prior, and once on
the production model's own prior draws)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from burden.errors import SBCWorldsError
from burden.validate import sbc_worlds


def _design(with_us: bool):
    """Two countries, 12 years, two GBD rounds, population 100,000 (so a log rate per
    100,000 is the log count). Country 0 grows 0.05 a year in both rounds, the second
    round 0.1 above the first; country 1 grows 0.05 a year in the first round, and its
    second round is 0.1 + 0.02 t above it (a gap growing 0.2 a decade)."""
    t = np.arange(12)
    y = {(0, 0): 1 + 0.05 * t, (0, 1): 1.1 + 0.05 * t,
         (1, 0): 2 + 0.05 * t, (1, 1): 2.1 + 0.07 * t}
    c, yr, r, values = [], [], [], []
    for (ci, ri), v in y.items():
        c += [ci] * 12
        yr += list(t)
        r += [ri] * 12
        values += list(v)
    us = None
    if with_us:
        # the US years are model years 2-4 (offset 2); NCHS any-opioid = the US rounds'
        # mean + log 2; a second drug series 0, 0.1, 0.3
        us_mean = (y[(1, 0)] + y[(1, 1)])[2:5] / 2
        us = SimpleNamespace(years=np.arange(2002, 2005), offset=2,
                             nchs_drug=np.array([0, 0, 0, 1, 1, 1]),
                             nchs_year=np.array([0, 1, 2, 0, 1, 2]),
                             nchs_log=np.concatenate([us_mean + np.log(2), [0, 0.1, 0.3]]))
    population = np.full((2, 12), 1e5)
    population[0, 0] = np.nan  # unknown: the rates leave country 0's first year out
    inp = SimpleNamespace(
        gbd_country=np.array(c), gbd_year=np.array(yr), gbd_round=np.array(r),
        gbd_log_deaths=np.array(values), population=population,
        countries=["AAA", "USA"], years=np.arange(2000, 2012), rounds=[2017, 2019], us=us,
        super_region_ids=["S1", "S2"], country_super=np.array([0, 1]))
    return inp, {"gbd_log_deaths": inp.gbd_log_deaths,
                 **({"nchs_log_deaths": us.nchs_log} if us else {})}


def test_deaths_summaries_measure_rates_changes_round_gaps_and_the_us_series():
    inp, data = _design(with_us=True)
    got = sbc_worlds.deaths_summaries(inp, by_super_region=True)(data)
    assert sbc_worlds.deaths_summaries(inp)(data) == {
        k: v for k, v in got.items() if "[" not in k}
    with_population = ~((inp.gbd_country == 0) & (inp.gbd_year == 0))
    assert got["gbd_log_rate_median"] == pytest.approx(
        np.median(inp.gbd_log_deaths[with_population]))
    # country means of the log rate: 1.35 (years 1-11) and 2.38 (by hand), sd 0.515
    assert got["gbd_log_rate_sd_across_countries"] == pytest.approx(0.515)
    # 33 yearly changes of 0.05 and 11 of 0.07
    assert got["gbd_year_change_rms"] == pytest.approx(np.sqrt((3 * 0.05**2 + 0.07**2) / 4))
    # ten-year changes, rounds' mean: 0.5 for country 0, (0.5 + 0.7) / 2 for country 1
    assert got["gbd_decade_change_sd"] == pytest.approx(0.05)
    gaps = np.r_[np.full(12, 0.1), 0.1 + 0.02 * np.arange(12)]
    assert got["gbd_round_gap_rms"] == pytest.approx(np.sqrt(np.mean(gaps**2)))
    # the gap's slope by decade: 0 and 0.2
    assert got["gbd_round_gap_slope_sd"] == pytest.approx(0.1)
    # within each super-region (one country each here)
    assert got["gbd_year_change_rms[S1]"] == pytest.approx(0.05)
    assert got["gbd_year_change_rms[S2]"] == pytest.approx(np.sqrt((0.05**2 + 0.07**2) / 2))
    assert got["gbd_round_gap_rms[S1]"] == pytest.approx(0.1)
    assert got["gbd_round_gap_rms[S2]"] == pytest.approx(np.sqrt(np.mean(gaps[12:] ** 2)))
    assert got["gbd_round_gap_slope_sd[S1]"] == got["gbd_round_gap_slope_sd[S2]"] == 0.0
    assert got["nchs_minus_gbd_us"] == pytest.approx(np.log(2))
    # any-opioid changes 0.06 a year (the rounds' mean), the other series 0.1 and 0.2
    assert got["nchs_year_change_rms"] == pytest.approx(
        np.sqrt((2 * 0.06**2 + 0.1**2 + 0.2**2) / 4))
    # the second series' share of any-opioid: smallest in the first US year, where the
    # any-opioid log count is (2 + 0.1 + 2.1 + 0.14) / 2 + log 2
    share = np.exp(0.0 - (2.17 + np.log(2)))
    assert got["nchs_share_logit_most_extreme"] == pytest.approx(np.log((1 - share) / share))
    # without the US block its summaries are missing, not zero
    inp, data = _design(with_us=False)
    got = sbc_worlds.deaths_summaries(inp)(data)
    assert np.isnan(got["nchs_minus_gbd_us"]) and np.isnan(got["nchs_year_change_rms"])
    assert np.isnan(got["nchs_share_logit_most_extreme"])


def test_a_deaths_world_counting_a_drug_as_often_as_all_opioids_is_infinitely_extreme():
    inp, data = _design(with_us=True)
    nchs = data["nchs_log_deaths"].copy()
    nchs[3] = nchs[0]  # the second series' first year: as many deaths as any opioid
    got = sbc_worlds.deaths_summaries(inp)({**data, "nchs_log_deaths": nchs})
    assert got["nchs_share_logit_most_extreme"] == np.inf
    assert sbc_worlds.most_extreme_logit(np.array([np.nan, 0.5])) == 0.0
    assert np.isnan(sbc_worlds.most_extreme_logit(np.array([np.nan])))
    assert sbc_worlds.most_extreme_logit(np.array([0.2, 0.0])) == np.inf
    assert sbc_worlds.most_extreme_logit(np.array([0.2, 1.2])) == np.inf


def test_a_world_is_accepted_inside_every_band_and_told_which_it_left():
    bands = sbc_worlds._bands({"spread": 0.2, "level": 1.0},
                              {"spread": ("ratio", 3.0), "level": ("shift", 1.0)})
    assert bands["spread"] == pytest.approx((0.2 / 3, 0.6))
    assert bands["level"] == (0.0, 2.0)
    rule = sbc_worlds.WorldRule("test", {"spread": 0.2, "level": 1.0}, bands,
                                lambda data: dict(data))
    assert rule.reject_reason({"spread": 0.2, "level": 1.0}) is None
    assert rule.reject_reason({"spread": 0.59, "level": 0.01}) is None
    reason = rule.reject_reason({"spread": 0.7, "level": 1.0})
    assert reason.startswith("spread 0.7 not in") and "level" not in reason
    both = rule.reject_reason({"spread": 0.01, "level": 2.5})
    assert "spread" in both and "level" in both
    assert "level nan" in rule.reject_reason({"spread": 0.2, "level": float("nan")})
    assert rule.describe()["bands"]["level"] == [0.0, 2.0]
    # per band, the worlds it rejects: a world outside two bands counts for both
    accepted, counts = sbc_worlds.rejections(rule, [
        {"spread": 0.2, "level": 1.0}, {"spread": 0.01, "level": 2.5},
        {"spread": 0.7, "level": 1.0}, {"spread": 0.3, "level": 0.5}])
    assert accepted == [0, 3] and counts == {"spread": 2, "level": 1}
    with pytest.raises(ValueError, match="needs a positive one"):
        sbc_worlds._bands({"spread": 0.0}, {"spread": ("ratio", 3.0)})
    with pytest.raises(ValueError, match="kind 'scale'"):
        sbc_worlds._bands({"spread": 1.0}, {"spread": ("scale", 3.0)})


def _first(data):
    return {"first": float(np.asarray(data["y"]).ravel()[0])}


@pytest.fixture
def fake_prior(monkeypatch):
    """``sbc.simulate`` replaced by a prior of one standard normal observation per world,
    prefix-stable as PyMC's draws are (world i depends on the seed and i only), so the
    selection is tested without building a model; a rule on the production model that
    accepts a world whose observation is below 0 (about half)."""
    from burden.validate import sbc, sbc_specs

    calls = []

    def simulate(spec, n, seed, cache=None):
        calls.append(n)
        sims = []
        for i in range(n):
            y = np.random.default_rng([seed, i]).normal(size=3)
            sims.append(sbc.Simulation(i, 1000 * seed + i, {"y": y}, {"theta": y[:1]},
                                       world=i))
        return sims, {"theta": [""]}

    def rule(spec):
        return sbc_worlds.WorldRule("first below 0", {"first": 0.0}, {"first": (-np.inf, 0.0)},
                                    _first)

    monkeypatch.setattr(sbc, "simulate", simulate)
    monkeypatch.setitem(sbc.WORLD_RULES, "production", rule)
    return sbc_specs.production_spec(), rule(None), calls


def test_kept_worlds_are_the_accepted_prior_worlds_with_their_own_seeds(fake_prior):
    from burden.validate import sbc

    spec, rule, _ = fake_prior
    sims, _, record = sbc.simulate_worlds(spec, 5, 1, "like-ours")
    every, _ = sbc.simulate(spec, record["examined"], 1)
    worlds = [s.world for s in sims]
    assert [s.sim for s in sims] == list(range(5))
    assert worlds[-1] == record["examined"] - 1
    assert worlds == [i for i, s in enumerate(every) if rule.reject_reason(s.data) is None][:5]
    assert 0 < record["rejected"] == record["examined"] - 5 == sum(
        record["rejected_by"].values())
    for s in sims:
        assert s.seed == every[s.world].seed
        np.testing.assert_array_equal(s.truth["theta"], every[s.world].truth["theta"])
    # the same seed keeps the same worlds for more simulations
    more, _, _ = sbc.simulate_worlds(spec, 6, 1, "like-ours")
    assert [s.world for s in more[:5]] == worlds
    # every world: the record says so, and the worlds are the prior draws' positions
    plain, _, rec = sbc.simulate_worlds(spec, 3, 1)
    assert rec == {"worlds": "all"} and [s.world for s in plain] == [0, 1, 2]


def test_a_rare_world_is_found_by_drawing_more(fake_prior, monkeypatch):
    """A rule that accepts about one world in ten: 12 simulations need more than the
    first 50 prior worlds, so the draws double; the first 5 kept are those of a run of 5
    (which stops at 50 draws)."""
    from burden.validate import sbc

    spec, _, calls = fake_prior
    every, _ = sbc.simulate(spec, 400, 4)
    first = np.array([_first(s.data)["first"] for s in every])
    rare = sbc_worlds.WorldRule("rare", {}, {"first": (-np.inf, np.quantile(first, 0.1))},
                                _first)
    monkeypatch.setitem(sbc.WORLD_RULES, "production", lambda spec: rare)
    calls.clear()
    sims, _, record = sbc.simulate_worlds(spec, 12, 4, "like-ours")
    assert calls[0] == 50 and len(calls) > 1 and calls[1:] == [50 * 2 ** k for k in
                                                               range(1, len(calls))]
    assert record["examined"] > 50 and len(sims) == 12
    assert [s.world for s in sims] == [i for i, v in enumerate(first)
                                       if v <= rare.bands["first"][1]][:12]
    few, _, _ = sbc.simulate_worlds(spec, 5, 4, "like-ours")
    assert [s.world for s in few] == [s.world for s in sims[:5]]


def test_the_real_prior_draws_are_kept_with_their_seeds_and_truths(monkeypatch):
    """The same on the reduced production model's own prior draws (PyMC's): a rule on its
    first observation keeps worlds whose data, seeds and true values are those of the
    prior draws at their positions."""
    from burden.validate import sbc, sbc_specs

    spec = sbc_specs.production_spec()
    model = spec.build()
    name = model.observed_RVs[0].name
    real = float(np.asarray(model.rvs_to_values[model.observed_RVs[0]].data).ravel()[0])
    rule = sbc_worlds.WorldRule("first below", {"first": real}, {"first": (-np.inf, real)},
                                lambda d: {"first": float(np.asarray(d[name]).ravel()[0])})
    monkeypatch.setitem(sbc.WORLD_RULES, "production", lambda spec: rule)
    sims, labels, _ = sbc.simulate_worlds(spec, 3, 4, "like-ours")
    every, _ = sbc.simulate(spec, 50, 4)
    assert [s.world for s in sims] == [i for i, s in enumerate(every)
                                       if rule.reject_reason(s.data) is None][:3]
    for s in sims:
        assert s.seed == every[s.world].seed
        np.testing.assert_array_equal(s.data[name], every[s.world].data[name])
        for k in labels:
            np.testing.assert_array_equal(s.truth[k], every[s.world].truth[k])


def test_resume_refuses_a_run_on_other_worlds(tmp_path, fake_prior):
    """An earlier run's manifest records its worlds: resuming with another rule (or on all
    worlds after worlds like ours) is refused; a manifest from before the option counts as
    every world."""
    import pandas as pd

    from burden.errors import SBCResumeError
    from burden.validate import sbc, sbc_stats

    spec, _, _ = fake_prior
    sims, labels, record = sbc.simulate_worlds(spec, 2, 4, "like-ours")
    manifest = {k: "x" for k in sbc_stats.MANIFEST_KEYS}
    manifest.update({"model": spec.model, "model_version": sbc._model_version(spec),
                     "seed": 4, "reduction": spec.reduction,
                     "model_config": spec.model_config,
                     "sampler": sbc._manifest_sampler(spec), "simulations": 0,
                     "run_utc": "2026-12-02T17:00:00+00:00", "failed": 0, "converged": 0})
    empty_ranks = pd.DataFrame({c: pd.Series(dtype=object)
                                for c in sbc_stats.SBC_RANKS.columns})
    empty_sims = pd.DataFrame({c: pd.Series(dtype=object) for c in sbc_stats.SBC_SIMS.columns
                               if c != "world"})
    sbc_stats.write_sbc(tmp_path, empty_ranks, empty_sims, {**manifest, "worlds": record})
    reused, _ = sbc.resume_from(tmp_path, spec, sims, labels, 4, record)
    assert reused == {}
    with pytest.raises(SBCResumeError, match="worlds"):
        sbc.resume_from(tmp_path, spec, sims, labels, 4, {"worlds": "all"})
    other = {**record, "bands": {"first": [-1.0, 1.0]}}
    with pytest.raises(SBCResumeError, match="worlds"):
        sbc.resume_from(tmp_path, spec, sims, labels, 4, other)
    sbc_stats.write_sbc(tmp_path, empty_ranks, empty_sims, manifest)  # no worlds key
    assert sbc.resume_from(tmp_path, spec, sims, labels, 4, {"worlds": "all"})[0] == {}
    with pytest.raises(SBCResumeError, match="worlds"):
        sbc.resume_from(tmp_path, spec, sims, labels, 4, record)
    # a run of another version of the model (or from before versions were recorded)
    for version in ("0", None):
        sbc_stats.write_sbc(tmp_path, empty_ranks, empty_sims,
                            {**manifest, "model_version": version})
        with pytest.raises(SBCResumeError, match="model_version"):
            sbc.resume_from(tmp_path, spec, sims, labels, 4, {"worlds": "all"})


def test_worlds_refuses_an_unknown_choice_a_model_without_a_rule_and_a_rule_too_strict(
        fake_prior, monkeypatch):
    from burden.validate import sbc

    spec, rule, _ = fake_prior
    with pytest.raises(SBCWorldsError, match="must be one of all, like-ours"):
        sbc.simulate_worlds(spec, 2, 4, "ours")
    never = sbc_worlds.WorldRule("never", {}, {"first": (np.inf, np.inf)}, rule.summaries)
    monkeypatch.setitem(sbc.WORLD_RULES, "production", lambda spec: never)
    monkeypatch.setattr(sbc, "MAX_WORLDS_PER_ACCEPTED", 25)
    with pytest.raises(SBCWorldsError, match="accepted 0 of 50 prior worlds"):
        sbc.simulate_worlds(spec, 2, 4, "like-ours")
    monkeypatch.delitem(sbc.WORLD_RULES, "production")
    with pytest.raises(SBCWorldsError, match="production: no plausibility rule"):
        sbc.simulate_worlds(spec, 2, 4, "like-ours")


def test_the_command_line_refuses_worlds_for_a_model_without_a_rule(capsys):
    from burden import cli

    assert cli.main(["validate", "sbc", "--model", "markets", "--sims", "2",
                     "--worlds", "like-ours"]) == 2
    err = capsys.readouterr().err
    assert "--worlds" in err and "no plausibility rule" in err and "deaths" in err
    assert "certified" in err


def _certified_design():
    """US any-opioid and heroin (NCHS final, 2013-2014), methadone (VSRR, 2015), a
    nowcast of any-opioid and heroin for 2016, Canada (PHAC, 2016-2017) and a lower bound
    (left out of the summaries)."""
    import pandas as pd

    rows = [("USA:any_opioid", 2013, 12, 1000, "count", "nchs_final"),
            ("USA:any_opioid", 2014, 12, 1100, "count", "nchs_final"),
            ("USA:heroin", 2013, 12, 250, "count", "nchs_final"),
            ("USA:heroin", 2014, 12, 550, "count", "nchs_final"),
            ("USA:any_opioid", 2015, 12, 1210, "count", "vsrr"),
            ("USA:methadone", 2015, 12, 121, "count", "vsrr"),
            ("CAN:any_opioid", 2016, 12, 100, "count", "phac"),
            ("CAN:any_opioid", 2017, 12, 400, "count", "phac"),
            ("USA:any_opioid", 2016, 12, 1331, "lower_bound", "vsrr"),
            ("USA:any_opioid", 2016, 12, 1400, "nowcast", "vsrr"),
            ("USA:heroin", 2016, 12, 1330, "nowcast", "vsrr")]
    obs = pd.DataFrame(rows, columns=["series", "year", "end_month", "value", "kind",
                                      "source"])
    kind = obs["kind"].to_numpy()
    value = obs["value"].to_numpy(dtype=float)
    data = {"certified_count": value[kind == "count"],
            "nowcast_count": value[kind == "nowcast"]}
    return SimpleNamespace(obs=obs), data


def test_certified_summaries_measure_levels_changes_and_the_most_extreme_share():
    inp, data = _certified_design()
    got = sbc_worlds.certified_summaries(inp)(data)
    # US any-opioid: 1000, 1100, 1210 counted and 1400 nowcast; the bound is left out
    assert got["us_log_deaths_median"] == pytest.approx(np.log(np.sqrt(1100 * 1210)))
    assert got["canada_log_deaths_median"] == pytest.approx(np.log(200))
    # consecutive Decembers of one source only: NCHS 2013 -> 2014 (VSRR has one year)
    assert got["us_year_change_rms"] == pytest.approx(np.log(1.1))
    # heroin 25% and 50%, methadone 10%, heroin's nowcast 1330 / 1400 = 95%
    assert got["us_share_logit_most_extreme"] == pytest.approx(np.log(0.95 / 0.05))


@pytest.mark.parametrize("heroin_nowcast", [0.0, 1400.0, 1500.0])
def test_a_certified_share_at_0_or_1_or_above_is_infinitely_extreme(heroin_nowcast):
    """A drug counted 0 times, or as often as all opioids or more, has a share at the
    edge: its logit walk has a flat direction there, and the rule rejects the world."""
    inp, data = _certified_design()
    data["nowcast_count"] = np.array([1400.0, heroin_nowcast])
    with np.errstate(all="raise"):  # no warning either
        got = sbc_worlds.certified_summaries(inp)(data)
    assert got["us_share_logit_most_extreme"] == np.inf
    rule = sbc_worlds.WorldRule("test", {}, {"us_share_logit_most_extreme": (0.0, 5.0)},
                                sbc_worlds.certified_summaries(inp))
    assert "us_share_logit_most_extreme inf not in [0, 5]" in rule.reject_reason(data)


def test_the_certified_rule_bands_the_share_around_the_real_data(certified_tables):
    """On the real design: the band is the real most extreme share's logit +- log 10
    (odds 10 times further from even or nearer); the real data pass their own rule, and
    the levels and changes are recorded but not banded."""
    from burden.validate import sbc_specs

    spec = sbc_specs.certified_spec(certified_tables)
    rule = sbc_worlds.certified_rule(spec)
    inp, real = sbc_worlds.certified_real_data(spec)
    extreme = rule.real["us_share_logit_most_extreme"]
    assert 0 < extreme < np.inf
    assert rule.bands == {"us_share_logit_most_extreme": pytest.approx(
        (extreme - np.log(10), extreme + np.log(10)))}
    assert set(rule.real) == {"us_log_deaths_median", "canada_log_deaths_median",
                              "us_year_change_rms", "us_share_logit_most_extreme"}
    assert rule.reject_reason(real) is None
    # a world of the same counts with one drug's count raised to the any-opioid count
    # (the drug counts are split from the any-opioid count of their window: version 3)
    from burden.models.certified import observation_rows, split_partner

    rows = observation_rows(inp.obs)
    partner = split_partner(inp.obs)
    world = {k: v.copy() for k, v in real.items()}
    heroin = (inp.obs["series"] == "USA:heroin").to_numpy()
    drug = int(np.flatnonzero(heroin[rows["drug_count"]])[0])
    same = list(rows["certified_count"]).index(partner[rows["drug_count"][drug]])
    world["drug_count"][drug] = world["certified_count"][same]
    assert "us_share_logit_most_extreme inf" in rule.reject_reason(world)
