"""Typed configs: unknown keys refused with the valid ones, priors that print as used, the
model docs' prior tables generated from the code, and one sampler config for every model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from burden.errors import ConfigError
from burden.fits import FITS
from burden.models.config import Prior, SamplerConfig, prior_block

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fit", list(FITS))
def test_every_estimator_refuses_unknown_keys_and_lists_the_valid_ones(fit):
    cls = FITS[fit].estimator
    valid = cls.config_class.valid_keys()
    with pytest.raises(ConfigError) as err:
        cls({"no_such_setting": 1})
    message = str(err.value)
    assert f"{cls.config_class.__name__}: unknown key(s) ['no_such_setting']" in message
    # every estimator's config has settings and its priors; all of them are listed
    assert "priors" in valid
    assert sorted(message.split("valid keys: ", 1)[1].split(", ")) == sorted(valid)
    # an unknown prior is refused by the priors class (not by the top-level config, whose
    # message would also contain the word "priors" in its list of valid keys)
    with pytest.raises(ConfigError, match=r"Priors: unknown key\(s\) \['no_such_prior'\]"):
        cls({"priors": {"no_such_prior": {"dist": "Normal", "mu": 0, "sigma": 1}}})
    with pytest.raises(ConfigError, match=r"SamplerConfig: unknown key\(s\) \['samples'\]"):
        cls(sampler_config={"samples": 10})


@pytest.mark.parametrize("fit", list(FITS))
def test_model_docs_list_the_priors_of_the_code(fit):
    """The prior tables in docs/models/*.md are the code's (`burden priors FIT
    --update-docs` regenerates them)."""
    from burden.models.config import PRIOR_DOCS

    doc = (ROOT / PRIOR_DOCS[fit]).read_text(encoding="utf-8")
    assert prior_block(fit, FITS[fit].estimator.config_class()) in doc


def test_priors_print_create_and_refuse_nonsense():
    import pymc as pm

    p = Prior("LogNormal", mu=0, sigma=0.5)
    assert repr(p) == "LogNormal(mu=0, sigma=0.5)"
    assert p["sigma"] == 0.5 and Prior.coerce(p.to_dict(), "x") == p
    with pm.Model():
        rv = p.create("scale")
    assert rv.owner.op.name == "lognormal"
    with pytest.raises(ConfigError, match="no parameter 'tau'"):
        p["tau"]
    with pytest.raises(ConfigError, match="is not a number"):
        Prior("Normal", mu="0")
    with pytest.raises(ConfigError, match="expected a Prior"):
        Prior.coerce(0.5, "DeathsPriors.sigma_gbd")
    with pytest.raises(AttributeError):
        p.dist = "Normal"


def test_sampler_config_checks_values_and_gives_cores():
    cfg = SamplerConfig.merge({"chains": 4, "draws": 10})
    # cores unset: one per chain, at most the machine's CPUs
    assert cfg.sample_kwargs()["cores"] == min(4, os.cpu_count() or 1) and cfg.draws == 10
    assert SamplerConfig.merge({"chains": 4, "cores": 1}).sample_kwargs()["cores"] == 1
    with pytest.raises(ConfigError, match="target_accept"):
        SamplerConfig.merge({"target_accept": 1.5})
    with pytest.raises(ConfigError, match="draws must be positive"):
        SamplerConfig.merge({"draws": 0})
    with pytest.raises(ConfigError, match="expected int"):
        SamplerConfig.merge({"draws": 10.5})


def test_mass_matrix_gamma_goes_to_nutpie_only_with_the_low_rank_mass_matrix():
    assert SamplerConfig().nutpie_kwargs() == {"adaptation": "diag"}
    low = SamplerConfig.merge({"mass_matrix": "low_rank"})
    assert low.nutpie_kwargs() == {"adaptation": "low_rank"}  # nutpie's own default
    tuned = SamplerConfig.merge({"mass_matrix": "low_rank", "mass_matrix_gamma": 0.001})
    assert tuned.nutpie_kwargs() == {"adaptation": "low_rank", "mass_matrix_gamma": 0.001}
    # over a model's low-rank default, the diagonal one needs no other change
    from burden.models.certified import CertifiedDeaths

    diag = CertifiedDeaths(sampler_config={"mass_matrix": "diag"}).sampler_config
    assert diag.mass_matrix_gamma == 0.001 and diag.nutpie_kwargs() == {"adaptation": "diag"}
    for bad in (0, -1e-3, "0.001", True):
        with pytest.raises(ConfigError, match="mass_matrix_gamma must be a number > 0"):
            SamplerConfig.merge({"mass_matrix": "low_rank", "mass_matrix_gamma": bad})


def test_every_mass_matrix_offered_is_one_nutpie_takes_and_others_are_refused():
    import importlib
    import inspect
    import typing

    from burden.models.config import MASS_MATRICES

    # nutpie's module: conftest swaps the package's function for one that refuses
    sample = importlib.import_module("nutpie.sample").sample
    takes = typing.get_args(inspect.signature(sample).parameters["adaptation"].annotation)
    assert set(MASS_MATRICES) <= set(takes), takes
    for kind in MASS_MATRICES:
        assert SamplerConfig.merge({"mass_matrix": kind}).nutpie_kwargs() == {"adaptation": kind}
    with pytest.raises(ConfigError, match="mass_matrix must be one of"):
        SamplerConfig.merge({"mass_matrix": "dense"})


def test_eigenvalue_cutoff_goes_to_nutpie_only_with_the_low_rank_mass_matrix():
    cut = SamplerConfig.merge({"mass_matrix": "low_rank", "mass_matrix_eigval_cutoff": 3})
    assert cut.nutpie_kwargs() == {"adaptation": "low_rank", "mass_matrix_eigval_cutoff": 3.0}
    diag = SamplerConfig.merge({"mass_matrix_eigval_cutoff": 3})
    assert diag.nutpie_kwargs() == {"adaptation": "diag"}
    for bad in (1, 0.5, -2, "3", True):
        with pytest.raises(ConfigError, match="eigval_cutoff must be a number > 1"):
            SamplerConfig.merge({"mass_matrix": "low_rank", "mass_matrix_eigval_cutoff": bad})


def test_nutpie_receives_the_mass_matrix_settings(monkeypatch):
    """The estimator passes the sampler config's mass-matrix settings to nutpie.sample."""
    import nutpie

    from burden.models.certified import CertifiedDeaths

    seen = {}

    class Stop(Exception):
        pass

    def fake_sample(compiled, **kwargs):
        seen.update(kwargs)
        raise Stop

    est = CertifiedDeaths()
    monkeypatch.setattr(nutpie, "sample", fake_sample)
    monkeypatch.setattr(type(est), "compiled_model", lambda self, model: None)
    with pytest.raises(Stop):
        est._sample(False, est.sampler_config)
    assert seen["adaptation"] == "low_rank" and seen["mass_matrix_gamma"] == 1e-3


@pytest.mark.parametrize("module, name", [("deaths", "OpioidDeaths"),
                                          ("certified", "CertifiedDeaths"),
                                          ("markets", "MarketShares")])
def test_a_model_refuses_a_sampler_measured_not_to_work_before_reading_data(module, name):
    """numpyro failed on these three models (docs/performance.md, "numpyro (JAX)"): ``fit``
    says so, naming what went wrong, before it reads a table or builds the model (the empty
    data would fail otherwise)."""
    import importlib

    cls = getattr(importlib.import_module(f"burden.models.{module}"), name)
    assert set(cls.refused_samplers) == {"numpyro"}
    extra = {"production": object()} if name == "MarketShares" else {}
    est = cls(**extra)
    with pytest.raises(ConfigError, match=f"{name} cannot be fitted with nuts_sampler="
                                          f"'numpyro': .*numpyro_fits.py.*use one of "
                                          f"\\['nutpie', 'pymc'\\]"):
        est.fit({}, sampler_config={"nuts_sampler": "numpyro"})
    est = cls(sampler_config={"nuts_sampler": "numpyro"}, **extra)  # as the CLI builds it
    with pytest.raises(ConfigError, match="cannot be fitted with nuts_sampler='numpyro'"):
        est.fit({})


def test_models_where_numpyro_works_do_not_refuse_it():
    from burden.models.composition import OpioidComposition
    from burden.models.production import OpiumProduction

    for cls in (OpioidComposition, OpiumProduction):
        assert cls.refused_samplers == {}
    # the refusal is the model's, not the sampler config's
    assert SamplerConfig.merge({"nuts_sampler": "numpyro"}).nuts_sampler == "numpyro"


def test_numpyro_gets_one_jax_device_per_chain_or_says_why_not(monkeypatch, caplog):
    """With fewer JAX devices than chains PyMC draws numpyro's chains one after another."""
    import jax

    from burden.models.base import jax_cpu_devices

    class FakeConfig:  # jax.config's settings are read-only properties
        jax_num_cpu_devices = -1

        def __init__(self, started: bool):
            self.started, self.calls = started, []

        def update(self, key, value):
            if self.started:
                raise RuntimeError("jax_num_cpu_devices config should be updated before "
                                   "backends are initialized")
            self.calls.append((key, value))

    fresh = FakeConfig(started=False)
    monkeypatch.setattr(jax, "config", fresh)
    assert jax_cpu_devices(4) and fresh.calls == [("jax_num_cpu_devices", 4)]
    monkeypatch.setattr(jax, "config", FakeConfig(started=True))
    monkeypatch.setattr(jax, "local_device_count", lambda: 1)
    with caplog.at_level("WARNING", logger="burden.models.base"):
        assert not jax_cpu_devices(4)
    assert "one after another" in caplog.text and "1 CPU device" in caplog.text
    monkeypatch.setattr(jax, "local_device_count", lambda: 4)
    assert jax_cpu_devices(4)  # already enough


def test_cli_names_an_unknown_key(capsys):
    from burden.cli import main

    assert main(["fit", "production", "--model-config", '{"prior": {}}']) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) ['prior']" in err and "priors" in err


@pytest.mark.parametrize(("error", "code"), [
    ("ConfigError", 2), ("MissingRawFileError", 2), ("FileNotFoundError", 2),
    ("DataFormatError", 1), ("ValueError", 1), ("RuntimeError", 1)])
def test_every_command_maps_an_error_to_its_exit_code(error, code, monkeypatch, capsys):
    """One scheme for every command (burden/errors.py, README "Exit codes"): could not
    start (a usage error, a missing input) 2; the work failed 1; one line, no traceback."""
    import builtins

    from burden import cli, errors, fits

    made = {"ConfigError": lambda: errors.ConfigError("bad option"),
            "MissingRawFileError": lambda: errors.MissingRawFileError("x.csv", "no x.csv"),
            "DataFormatError": lambda: errors.DataFormatError("x.csv", "bad", line=3)}
    exc = made.get(error, lambda: getattr(builtins, error)("boom"))()

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(fits, "fit_and_keep", fail)
    assert cli.main(["fit", "certified", "--no-summary"]) == code
    err = capsys.readouterr().err
    assert err.startswith("burden fit: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_the_readme_states_the_exit_codes_the_package_uses():
    """README's "Exit codes" line names each code of burden/errors.py, and no other."""
    import re

    from burden import errors

    readme = (ROOT / "README.md").read_text()
    line = readme[readme.index("Exit codes, the same for every command"):]
    line = line[:line.index("\n\n")]
    stated = {int(c) for c in re.findall(r"\*\*(\d+)\*\*", line)}
    codes = {getattr(errors, n) for n in dir(errors) if n.startswith("EXIT_")}
    assert stated == codes


def _fake_fit(monkeypatch, tmp_path, converged=True):
    """``fits.fit_and_keep`` replaced by one that returns a fitted-looking estimator."""
    import types

    from burden import fits

    conv = {"r_hat_max": 1.004 if converged else 1.2, "ess_bulk_min": 900.0,
            "divergences": 0 if converged else 7, "converged": converged}
    est = types.SimpleNamespace(idata=types.SimpleNamespace(
        attrs={"convergence": json.dumps(conv)}))
    monkeypatch.setattr(fits, "fit_and_keep",
                        lambda name, **kw: (est, tmp_path / f"{name}.nc"))


@pytest.mark.parametrize("converged", [True, False])
def test_fit_no_summary_reports_convergence_without_reloading(monkeypatch, capsys, tmp_path,
                                                              converged):
    """``burden fit X --no-summary`` (the Makefile's form) prints the fit's convergence line
    and exits 0 or 3 by it, without loading the saved file again (summarise does)."""
    from burden import fits
    from burden.cli import main

    _fake_fit(monkeypatch, tmp_path, converged)

    def no_reload(*a, **k):
        raise AssertionError("--no-summary must not reload the fit")

    monkeypatch.setattr(fits, "load_fit", no_reload)
    assert main(["fit", "production", "--no-summary"]) == (0 if converged else 3)
    out = capsys.readouterr().out
    assert f"saved {tmp_path / 'production.nc'}" in out
    assert ("converged" if converged else "NOT CONVERGED") in out
    assert ("1.004" if converged else "7 divergences") in out


@pytest.mark.parametrize("converged", [True, False])
def test_fit_write_results_summarises_the_saved_fit_in_the_same_process(
        monkeypatch, capsys, tmp_path, converged):
    """``burden fit X --no-summary --write-results`` (the Makefile's form) writes X's result
    tables after the fit, as ``burden summarise X`` would, and exits by convergence."""
    from burden import summarise
    from burden.cli import main

    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    models = tmp_path / "models"
    _fake_fit(monkeypatch, tmp_path, converged)
    calls = []

    def fake_summarise(name, models_dir=None):
        calls.append(name)
        path = models / name / "manifest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        return path

    monkeypatch.setattr(summarise, "summarise", fake_summarise)
    code = main(["fit", "production", "--no-summary", "--write-results"])
    assert code == (0 if converged else 3)
    out = capsys.readouterr().out
    if converged:
        assert calls == ["production"]
        assert f"wrote {models / 'production'}" in out
    else:  # make deletes a fit that exits 3: no tables without their fit
        assert calls == []
        assert "result tables not written: the fit did not converge" in out


def test_fit_keeps_the_fit_and_leaves_no_manifest_when_its_summary_fails(
        monkeypatch, capsys, tmp_path):
    """A failed summary after a good fit: the fit's exit is still its convergence's (make
    keeps the saved fit), the error is printed, and an older manifest is removed so make's
    ``burden summarise`` step runs it again."""
    from burden import summarise
    from burden.cli import main

    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    models = tmp_path / "models"
    _fake_fit(monkeypatch, tmp_path)
    old = models / "production" / "manifest.json"
    old.parent.mkdir(parents=True)
    old.write_text("{}")  # from an earlier fit

    def broken(name, models_dir=None):
        raise ValueError("schema check failed in table 'summary'")

    monkeypatch.setattr(summarise, "summarise", broken)
    assert main(["fit", "production", "--no-summary", "--write-results"]) == 0
    err = capsys.readouterr().err
    assert "production is saved, but its result tables failed" in err
    assert "schema check failed" in err and "burden summarise production" in err
    assert not old.exists()


def test_summarise_unless_newer_than_skips_only_a_manifest_newer_than_every_path(
        monkeypatch, capsys, tmp_path):
    """make's summarise step after ``fit --write-results``: skipped when the manifest was
    written after every prerequisite, run when one is newer or the manifest is missing."""
    from burden import summarise
    from burden.cli import main

    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    models = tmp_path / "models"
    calls = []
    monkeypatch.setattr(summarise, "summarise",
                        lambda name, models_dir=None: calls.append(name)
                        or models / name / "manifest.json")
    nc, code = tmp_path / "production.nc", tmp_path / "summarise.py"
    nc.write_text("fit")
    code.write_text("code")
    manifest = models / "production" / "manifest.json"
    args = ["summarise", "production", "--unless-newer-than", str(nc), str(code)]

    assert main(args) == 0 and calls == ["production"]  # no manifest yet
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    later = manifest.stat().st_mtime_ns
    os.utime(nc, ns=(later - 10**9, later - 10**9))
    os.utime(code, ns=(later - 10**9, later - 10**9))
    assert main(args) == 0 and calls == ["production"]  # written by the fit: skipped
    assert "already written by the fit" in capsys.readouterr().out
    os.utime(code, ns=(later + 10**9, later + 10**9))  # the summary code changed
    assert main(args) == 0 and calls == ["production", "production"]
    assert main(["summarise", "production"]) == 0 and len(calls) == 3  # no flag: always
    os.utime(code, ns=(later - 10**9, later - 10**9))
    assert main(args) == 0 and len(calls) == 3  # current again: skipped
    assert main([*args, str(tmp_path / "no_such_file.py")]) == 0 and len(calls) == 4


def test_a_skipped_summary_imports_nothing_heavy(tmp_path):
    """make runs the skipped summarise step once per fit: it must not import the summary
    code (2 s of imports a step, measured 2026-12-05), only decide and exit."""
    import subprocess
    import sys

    models = tmp_path / "models"
    (models / "production").mkdir(parents=True)
    nc = models / "production.nc"
    nc.write_text("fit")
    manifest = models / "production" / "manifest.json"
    manifest.write_text("{}")
    os.utime(nc, ns=(manifest.stat().st_mtime_ns - 10**9,) * 2)
    code = ("import sys; from burden.cli import main; "
            f"code = main(['summarise', 'production', '--unless-newer-than', {str(nc)!r}]); "
            "print(code, sorted(m for m in ('burden.summarise', 'pymc', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "BURDEN_ROOT": str(tmp_path)})
    assert out.stdout.splitlines()[-1] == "0 []", out.stdout + out.stderr


def test_a_summary_that_cannot_even_be_imported_keeps_the_fit(monkeypatch, capsys, tmp_path):
    """An import error of the summary code (a syntax error while editing it) is reported
    like any other failure of the summary: the fit exits by its convergence, so make keeps
    it and its `burden summarise` step shows the error again."""
    import sys

    from burden.cli import main

    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    _fake_fit(monkeypatch, tmp_path)
    monkeypatch.setitem(sys.modules, "burden.summarise", None)  # import raises ImportError
    import burden
    monkeypatch.delattr(burden, "summarise", raising=False)
    assert main(["fit", "production", "--no-summary", "--write-results"]) == 0
    err = capsys.readouterr().err
    assert "production is saved, but its result tables failed" in err


def test_a_result_table_failing_its_schema_is_one_line_not_a_traceback(tmp_path, capsys,
                                                                      monkeypatch):
    """A result table that fails its schema in `burden summarise` is reported in one line
    naming the fit, the table, its file and each failing column and check; exit code 1."""
    import pandas as pd

    from burden import cli, summarise

    def bad_tables(name, models_dir=None):
        good = summarise.write_results  # the real writer, on a table that breaks its schema
        frame = pd.DataFrame({"variable": ["x"], "size": [0], "r_hat_max": [1.0],
                              "ess_bulk_min": [500.0], "ess_tail_min": [500.0]})
        return good("production", {"diagnostics": frame}, {}, tmp_path / "p.nc", tmp_path)

    monkeypatch.setattr(summarise, "summarise", bad_tables)
    monkeypatch.setattr(summarise, "RESULTS", {"production": [
        t for t in summarise.RESULTS["production"] if t.name == "diagnostics"]})
    assert cli.main(["summarise", "production"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("burden summarise: error: summarise production: result table "
                          "'diagnostics'")
    assert "column 'size': greater_than_or_equal_to(1) failed for 0" in err


def test_fit_out_saves_elsewhere_and_refuses_write_results(tmp_path, monkeypatch, capsys):
    """`burden fit FIT --out FILE` saves there, not over the pipeline's models/FIT.nc;
    with --write-results (the pipeline fit's tables) it is refused before any fit."""
    from burden import cli, fits

    assert cli.main(["fit", "certified", "--out", str(tmp_path / "c.nc"),
                     "--write-results"]) == 2
    assert "--write-results" in capsys.readouterr().err
    seen = {}

    class Fitted:
        idata = type("I", (), {"attrs": {"convergence": json.dumps(
            {"r_hat_max": 1.0, "ess_bulk_min": 900.0, "divergences": 0,
             "converged": True})}})()

    def fake_fit(name, **kwargs):
        seen.update(kwargs)
        return Fitted(), kwargs["out"]

    monkeypatch.setattr(fits, "fit_and_keep", fake_fit)
    assert cli.main(["fit", "certified", "--no-summary", "--out",
                     str(tmp_path / "c.nc")]) == 0
    assert seen["out"] == tmp_path / "c.nc"


def test_benchmark_says_when_some_runs_failed(monkeypatch, capsys):
    """`burden benchmark` exits 3 when some of its runs failed (the table has the others),
    1 when all did, 0 when none did."""
    from burden import benchmark as bench
    from burden import cli

    outcomes = iter([{"seed": 1}, None])
    monkeypatch.setattr(bench, "run_child", lambda *a, **k: next(outcomes))
    monkeypatch.setattr(bench, "markdown_table", lambda rows: "")
    assert cli.main(["benchmark", "certified", "--samplers", "nutpie,pymc"]) == 3
    assert "1 of 2 runs failed" in capsys.readouterr().err
    monkeypatch.setattr(bench, "run_child", lambda *a, **k: None)
    assert cli.main(["benchmark", "certified", "--samplers", "nutpie"]) == 1
    monkeypatch.setattr(bench, "run_child", lambda *a, **k: {"seed": 1})
    assert cli.main(["benchmark", "certified", "--samplers", "nutpie"]) == 0
