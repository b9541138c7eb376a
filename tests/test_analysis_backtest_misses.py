"""analysis/backtest_misses.py: the counts it prints about the deaths back-test's misses."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "analysis" / "backtest_misses.py"


@pytest.fixture(scope="module")
def misses():
    spec = importlib.util.spec_from_file_location("backtest_misses", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(module, tmp_path, rows):
    frame = pd.DataFrame(rows, columns=["location_id", "year", "gbd_round", "value"])
    frame["predictive_lower"], frame["predictive_upper"] = 10.0, 20.0
    frame["predictive_hit"] = frame["value"].between(10.0, 20.0)
    frame["last_data_year"], frame["nominal"] = 2010, 0.9
    path = tmp_path / "deaths_backtest.csv"
    frame.to_csv(path, index=False)
    return module.read(path)


def test_round_pairs_tell_misses_apart(misses, tmp_path):
    table = _table(misses, tmp_path, [
        ("AAA", 2011, 2017, 25.0), ("AAA", 2011, 2019, 5.0),    # opposite sides
        ("BBB", 2011, 2017, 25.0), ("BBB", 2011, 2019, 30.0),   # same side
        ("CCC", 2011, 2017, 15.0), ("CCC", 2011, 2019, 5.0),    # one outside
        ("DDD", 2011, 2017, 15.0), ("DDD", 2011, 2019, 12.0),   # both inside
        ("EEE", 2018, 2019, 50.0),                              # one round only
    ])
    pairs = misses.round_pairs(table).loc[2010]
    assert pairs["both rounds"] == 4
    assert pairs["both outside, opposite sides"] == 1
    assert pairs["both outside, same side"] == 1
    assert pairs["one outside"] == 1
    assert pairs["values outside in all"] == 6
    countries = misses.by_country(table).set_index("location_id")
    assert countries.loc["AAA", "outside"] == 1.0 and countries.loc["DDD", "outside"] == 0.0
    assert countries.loc["BBB", "above"] == 2 and countries.loc["AAA", "below"] == 1


def test_a_table_of_another_kind_is_refused_with_its_missing_columns(misses, tmp_path):
    path = tmp_path / "other.csv"
    pd.DataFrame({"location_id": ["AAA"], "year": [2011]}).to_csv(path, index=False)
    with pytest.raises(SystemExit, match=r"other.csv: columns \['gbd_round'.*deaths_backtest"):
        misses.read(path)
