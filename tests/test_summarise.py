"""`burden summarise`: what computing the result tables imports."""


import subprocess
import sys


def _fresh_interpreter(code: str) -> str:
    """Standard output of ``code`` run in a new Python process (this test process may have
    loaded the modules in question already)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_summarise_does_not_import_matplotlib():
    """Result tables are computed without plotting imports (every `burden summarise`
    process paid about a second for matplotlib and the figure modules)."""
    out = _fresh_interpreter(
        "import sys, burden.summarise, burden.validate.ppc, burden.draws\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'matplotlib'\n"
        "             or k.startswith('burden.plots')))")
    assert out == "[]", out


def test_summarise_does_not_load_jax_through_scipys_array_checks():
    """ArviZ leaves a placeholder of JAX in ``sys.modules``; SciPy's array-API checks then
    import all of JAX (0.4 CPU-s a process). ``config.forget_unloaded_jax`` takes the
    placeholder out; checked with the SciPy call that loaded it."""
    out = _fresh_interpreter("import sys, numpy as np, scipy.special, burden.summarise\n"
                             "scipy.special.logsumexp(np.ones(3))\n"
                             "print('jax._src' in sys.modules)")
    assert out == "False", out


def test_forgetting_jax_leaves_a_loaded_jax_and_a_later_import_works():
    out = _fresh_interpreter("import sys, arviz_base\n"
                             "from burden import config\n"
                             "config.forget_unloaded_jax()\n"
                             "assert 'jax' not in sys.modules\n"
                             "import jax\n"
                             "config.forget_unloaded_jax()\n"
                             "print(sys.modules['jax'] is jax, jax.numpy.ones(2).shape)")
    assert out == "True (2,)", out


def test_plots_reexport_the_tables_they_draw():
    """``burden.plots`` still offers the data functions that moved out of it."""
    from burden import draws, plots
    from burden.validate import ppc

    assert plots.ppc_from_idata is ppc.ppc_from_idata
    assert plots.total_from_draws is draws.total_from_draws


def test_ppc_rows_without_an_observation_are_logged_not_dropped_silently(caplog):
    """``ppc_data`` leaves out elements with no observed value and says how many, by model
    and variable; the others keep their values and ``inside`` flags."""
    import logging

    import numpy as np
    import pandas as pd

    from burden.validate.ppc import PPC_COLUMNS, ppc_data

    frame = pd.DataFrame({"model": "m", "variable": ["a", "a", "a", "b"],
                          "observed": [1.0, np.nan, 5.0, 2.0], "mean": 1.0,
                          "lower": [0.5, 0.5, 0.5, 3.0], "upper": [2.0, 2.0, 2.0, 4.0]})
    with caplog.at_level(logging.INFO, logger="burden.validate.ppc"):
        out = ppc_data(frame)
    assert list(out.columns) == PPC_COLUMNS
    assert out["observed"].tolist() == [1.0, 5.0, 2.0]
    assert out["inside"].tolist() == [True, False, False]
    assert "m a 1 of 3" in caplog.text and "m b" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="burden.validate.ppc"):
        ppc_data(frame.dropna())
    assert "left out" not in caplog.text


def test_a_country_market_is_projected_by_its_own_years_others_after_gbd():
    """The US market is not projected in the years its certified counts carry (the
    deaths summary's own flags for the US); a market of several countries is projected
    wherever any country is (after GBD's last data year)."""
    import pandas as pd

    from burden.summarise import projected_by_market

    one = pd.DataFrame({
        "location_id": ["USA", "USA", "CAN", "CAN", "WLD", "WLD"],
        "location_level": ["country"] * 4 + ["world"] * 2,
        "year": [2020, 2025, 2020, 2025, 2020, 2025],
        "projected": [False, True, True, True, True, True]})
    # a row per measure, as in the deaths summary
    deaths = pd.concat([one.assign(measure="deaths"), one.assign(measure="rate_per_100k")])
    summary = pd.DataFrame({"market": ["USA", "USA", "CAN", "EUR", "EUR"],
                            "year": [2020, 2025, 2020, 2019, 2020]})
    assert projected_by_market(summary, deaths).tolist() == [False, True, True, False, True]


def test_market_members_table_names_each_market_s_countries():
    """The members table lists every stored (market, country) once, named from the deaths
    summary's country rows; for a file written before the members were stored, the
    registry's markets, with a warning."""
    from pathlib import Path

    import pandas as pd
    import pytest

    from burden.result_schemas import MARKET_MEMBERS
    from burden.summarise import market_members_table

    deaths = pd.DataFrame({
        "location_id": ["GRL", "GRL", "USA", "FRA", "GBD_R:x"],
        "location_name": ["Greenland", "Greenland", "United States", "France", "Region"],
        "location_level": ["country", "country", "country", "country", "region"]})
    table = market_members_table({"North America": ["GRL"], "USA": ["USA"],
                                  "Western and Central Europe": ["FRA"]}, deaths,
                                 Path("attribution.nc"))
    MARKET_MEMBERS.validate(table)
    assert table.to_dict("records") == [
        {"market": "North America", "location_id": "GRL", "location_name": "Greenland"},
        {"market": "USA", "location_id": "USA", "location_name": "United States"},
        {"market": "Western and Central Europe", "location_id": "FRA",
         "location_name": "France"}]
    # an attribution file written before the members were stored: the registry's markets
    # of the summary's countries, with a warning; a country without a name keeps its code
    unnamed = deaths.assign(location_name=deaths["location_name"].where(
        deaths["location_id"] != "FRA"))
    with pytest.warns(UserWarning, match=r"attribution\.nc.*location registry"):
        old = market_members_table({}, unnamed, Path("attribution.nc"))
    assert old.to_dict("records") == [
        {"market": "North America", "location_id": "GRL", "location_name": "Greenland"},
        {"market": "USA", "location_id": "USA", "location_name": "United States"},
        {"market": "Western and Central Europe", "location_id": "FRA",
         "location_name": "FRA"}]
    # a country in two markets breaks the schema
    twice = pd.concat([table, table.iloc[[0]].assign(market="USA")], ignore_index=True)
    with pytest.raises(Exception, match="location_id"):
        MARKET_MEMBERS.validate(twice)
