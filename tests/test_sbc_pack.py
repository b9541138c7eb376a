"""SBC packs (``burden.validate.sbc_pack``): a run's fits in one small file rebuild the
run's own tables, a run goes on from them into a new folder, and a pack of another run,
a damaged pack or a file that is not one is refused with a message naming it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import SUBMITTED, FakeDaskClient, fake_as_completed

from burden.errors import SBCResumeError
from burden.validate import sbc, sbc_pack, sbc_specs, sbc_stats

#: a production SBC of a few short fits in this process (the production spec: real
#: published design), small enough for a test; the numbers are arbitrary settings
SMALL = {"draws": 100, "tune": 100, "chains": 2}
SEED = 3


def _reuse(path, *args):
    return sbc_pack.reused_from_pack(sbc_pack.read_pack(path), path, *args)


@pytest.fixture(scope="module")
def packed_run(tmp_path_factory):
    """(folder of a 3-simulation run, its pack, spec, 4 simulations, labels, record)."""
    import distributed

    folder = tmp_path_factory.mktemp("sbc_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(distributed, "Client", FakeDaskClient)
        mp.setattr(distributed, "as_completed", fake_as_completed)
        sbc.run("production", 3, scheduler="fake", out=folder, sampler=SMALL, seed=SEED)
    pack = sbc_pack.write_pack(folder, folder.parent / "run.npz")
    spec = sbc_specs.production_spec()
    spec = dataclasses.replace(spec, sampler={**spec.sampler, **SMALL})
    sims, labels, record = sbc.simulate_worlds(spec, 4, SEED)
    return folder, pack, spec, sims, labels, record


@pytest.mark.slow
def test_a_pack_rebuilds_the_runs_own_tables(packed_run):
    """The pack's ranks and draw counts with the new draws' true values and PITs drawn
    again give the folder's tables exactly; the pack is several times smaller."""
    folder, pack, spec, sims, labels, record = packed_run
    from_folder, manifest = sbc.resume_from(folder, spec, sims, labels, SEED, record)
    from_pack, packed_manifest = _reuse(pack, spec, sims, labels, SEED, record)
    assert packed_manifest == manifest and sorted(from_pack) == [0, 1, 2]
    ranks, sims_table, _, _ = sbc_stats.read_sbc(folder)
    rebuilt_ranks, rebuilt_sims = sbc.tables_from_results(spec, sims[:3], labels, from_pack)
    pd.testing.assert_frame_equal(
        sbc_stats.SBC_RANKS.validate(rebuilt_ranks).reset_index(drop=True),
        ranks.reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(sbc_stats.SBC_SIMS.validate(rebuilt_sims), sims_table,
                                  check_exact=True)
    for i in from_folder:
        assert sbc.reproduces(from_folder[i], from_pack[i]) is None
    tables = sbc_stats.paths(folder)["ranks"].stat().st_size
    assert pack.stat().st_size < tables / 3


@pytest.mark.slow
def test_a_run_goes_on_from_a_pack_into_a_new_folder(packed_run, monkeypatch, tmp_path):
    """``--resume-from``: the packed fits are reused, the first two fitted again and
    checked (``sbc.RESUME_CHECKS``), the new simulation fitted; the new folder's first simulations are the packed run's.
    A folder that holds a run, or --resume beside it, is refused."""
    import distributed

    folder, pack, *_ = packed_run
    monkeypatch.setattr(distributed, "Client", FakeDaskClient)
    monkeypatch.setattr(distributed, "as_completed", fake_as_completed)
    SUBMITTED.clear()
    out = tmp_path / "goes_on"
    ranks, table, manifest = sbc.run("production", 4, scheduler="fake", out=out,
                                     sampler=SMALL, seed=SEED, resume_from_pack=pack)
    assert sbc.RESUME_CHECKS == 2 and SUBMITTED == [0, 1, 3]  # two checks, one new fit
    assert manifest["resumed"]["reused"] == 3 and len(table) == 4
    first, _, _, _ = sbc_stats.read_sbc(folder)
    pd.testing.assert_frame_equal(
        ranks[ranks["sim"] < 3].reset_index(drop=True), first.reset_index(drop=True),
        check_exact=True, check_dtype=False)
    with pytest.raises(SBCResumeError, match="holds a run already"):
        sbc.run("production", 4, scheduler="fake", out=out, sampler=SMALL, seed=SEED,
                resume_from_pack=pack)
    with pytest.raises(SBCResumeError, match="give one of them"):
        sbc.run("production", 4, scheduler="fake", out=tmp_path / "new", sampler=SMALL,
                seed=SEED, resume_from_pack=pack, resume=True)


def _rewritten(pack, dest, **changes):
    with np.load(pack, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez_compressed(dest, **arrays)
    return dest


@pytest.mark.slow
def test_a_pack_of_another_run_or_a_damaged_one_is_refused(packed_run, tmp_path):
    _, pack, spec, sims, labels, record = packed_run
    # another seed: other worlds
    with pytest.raises(SBCResumeError, match="differs in seed"):
        _reuse(pack, spec, sims, labels, SEED + 1, record)
    # another sampler setting
    other = dataclasses.replace(spec, sampler={**spec.sampler, "draws": 101})
    with pytest.raises(SBCResumeError, match="differs in sampler"):
        _reuse(pack, other, sims, labels, SEED, record)
    # a simulation drawn at another world
    table = sbc_pack.read_pack(pack)["sims"]
    table.loc[table["sim"] == 1, "world"] = 7
    moved = _rewritten(pack, tmp_path / "moved.npz", sims=np.str_(table.to_csv(index=False)))
    with pytest.raises(SBCResumeError, match="simulation 1 was world 7"):
        _reuse(moved, spec, sims, labels, SEED, record)
    # other true values (another prior or saved fit behind the same worlds and seeds)
    digests = sbc_pack.read_pack(pack)["truth_sha256"].copy()
    digests[0] = "0" * 16
    other_truths = _rewritten(pack, tmp_path / "truths.npz", truth_sha256=digests)
    with pytest.raises(SBCResumeError, match="simulation 0's true values differ"):
        _reuse(other_truths, spec, sims, labels, SEED, record)
    # other parameters
    params = sbc_pack.read_pack(pack)["parameters"].copy()
    params[0] = "not_a_parameter"
    renamed = _rewritten(pack, tmp_path / "renamed.npz", parameters=params)
    with pytest.raises(SBCResumeError, match="ranks other parameters"):
        _reuse(renamed, spec, sims, labels, SEED, record)
    # a missing rank of a simulation that succeeded
    ranks = sbc_pack.read_pack(pack)["ranks"].copy()
    ranks[2, 0] = -1
    holed = _rewritten(pack, tmp_path / "holed.npz", ranks=ranks)
    with pytest.raises(SBCResumeError, match="simulation 2 succeeded but its ranks"):
        _reuse(holed, spec, sims, labels, SEED, record)
    # PITs that do not come back bit for bit (the fit's order of drawing them changed)
    digests = sbc_pack.read_pack(pack)["pit_sha256"].copy()
    digests[1] = "0" * 16
    drawn = _rewritten(pack, tmp_path / "drawn.npz", pit_sha256=digests)
    with pytest.raises(SBCResumeError, match="simulation 1's PITs drawn again"):
        _reuse(drawn, spec, sims, labels, SEED, record)
    # ranks of another shape than simulations x parameters
    cut = _rewritten(pack, tmp_path / "cut.npz", ranks=ranks[:, :-1])
    with pytest.raises(SBCResumeError, match="cut.npz: its ranks are"):
        sbc_pack.read_pack(cut)
    # another format, an array missing, not a pack, no file
    newer = _rewritten(pack, tmp_path / "newer.npz", format=np.int64(2))
    with pytest.raises(SBCResumeError, match="pack of format 2"):
        sbc_pack.read_pack(newer)
    with np.load(pack, allow_pickle=False) as data:
        partial = {k: data[k] for k in data.files if k != "n_draws"}
    np.savez_compressed(tmp_path / "partial.npz", **partial)
    with pytest.raises(SBCResumeError, match=r"partial.npz is not an SBC pack: it lacks "
                                             r"\['n_draws'\]"):
        sbc_pack.read_pack(tmp_path / "partial.npz")
    (tmp_path / "text.npz").write_text("ranks\n")
    with pytest.raises(SBCResumeError, match="text.npz is not a whole SBC pack"):
        sbc_pack.read_pack(tmp_path / "text.npz")
    # a pack cut short in copying
    (tmp_path / "short.npz").write_bytes(pack.read_bytes()[:len(pack.read_bytes()) // 2])
    with pytest.raises(SBCResumeError, match="short.npz is not a whole SBC pack"):
        sbc_pack.read_pack(tmp_path / "short.npz")
    # a manifest that is not one
    broken = _rewritten(pack, tmp_path / "broken.npz", manifest=np.str_("{not json"))
    with pytest.raises(SBCResumeError, match="broken.npz is not a whole SBC pack"):
        sbc_pack.read_pack(broken)
    with pytest.raises(SBCResumeError, match="no file"):
        sbc_pack.read_pack(tmp_path / "absent.npz")


@pytest.mark.slow
def test_a_pack_read_as_a_rank_table_is_the_runs_but_its_true_values(packed_run, tmp_path):
    """``pack_ranks``: the folder's rank table, PITs drawn again bit for bit, without
    drawing the worlds again (true values NaN); PITs that do not come back are refused."""
    folder, pack, spec, *_ = packed_run
    ranks = sbc_stats.read_sbc(folder)[0].reset_index(drop=True)
    table = sbc_pack.pack_ranks(sbc_pack.read_pack(pack), pack, spec)
    assert table["true"].isna().all()
    pd.testing.assert_frame_equal(table.drop(columns="true"), ranks.drop(columns="true"),
                                  check_exact=True)
    digests = sbc_pack.read_pack(pack)["pit_sha256"].copy()
    digests[2] = "0" * 16
    drawn = _rewritten(pack, tmp_path / "drawn.npz", pit_sha256=digests)
    with pytest.raises(SBCResumeError, match="drawn.npz: simulation 2's PITs drawn again"
                                             ".*read the run's folder instead"):
        sbc_pack.pack_ranks(sbc_pack.read_pack(drawn), drawn, spec)
    other = dataclasses.replace(spec, model="markets")
    with pytest.raises(SBCResumeError, match="is a run of production, not markets"):
        sbc_pack.pack_ranks(sbc_pack.read_pack(pack), pack, other)


def test_the_pack_command_writes_a_pack_and_names_a_folder_without_a_run(tmp_path, capsys):
    from burden import cli

    assert cli.main(["validate", "sbc-pack", str(tmp_path / "empty"),
                     str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert "manifest.json not found" in err and "empty" in err
    assert not (tmp_path / "p.npz").exists()


def test_tables_of_two_runs_are_not_one_pack(tmp_path):
    """A folder whose simulations rank different parameters is refused, not packed."""
    ranks = pd.DataFrame({
        "model": "m", "sim": [0, 1], "variable": ["x", "y"], "index": "",
        "parameter": ["x", "y"], "true": 0.5, "rank": [3.0, 4.0], "n_draws": 10.0,
        "pit": [0.3, 0.4], "status": "ok"})
    sims = pd.DataFrame({
        "model": "m", "sim": [0, 1], "world": [0, 1], "seed": [5, 6], "status": "ok",
        "attempts": 1, "error": None, "r_hat_max": 1.0, "ess_bulk_min": 500.0,
        "divergences": 0, "thin": 1, "compile_s": 1.0, "sample_s": 1.0,
        "worst_r_hat": "x", "worst_ess": "x", "converged": True, "worker": "w"})
    manifest = {k: 0 for k in sbc_stats.MANIFEST_KEYS} | {"model": "m", "simulations": 2,
                                                          "run_utc": "2026-12-06"}
    sbc_stats.write_sbc(tmp_path, ranks, sims, manifest)
    with pytest.raises(ValueError, match="simulation 1 ranks other parameters"):
        sbc_pack.write_pack(tmp_path, tmp_path / "p.npz")


def _two_variable_model():
    import pymc as pm

    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.Normal("b", a, 1.0, shape=3)
        pm.Normal("y", b, 1.0, observed=np.zeros(3))
    return model


def test_failed_retried_undrawable_and_skipped_worlds_come_back_from_a_pack(monkeypatch,
                                                                            tmp_path):
    """Without fits: tables written as a run writes them, with a simulation retried, one
    whose fit failed, one whose world could not be drawn, and worlds that are not their
    simulation's number (a plausibility rule skipped some), are rebuilt exactly."""
    model = _two_variable_model()
    monkeypatch.setattr(sbc_specs.SBCSpec, "build", lambda self: model)
    monkeypatch.setattr(sbc, "_model_version", lambda spec: "test")
    spec = sbc_specs.SBCSpec(model="certified", module="m", cls="C", model_config={}, tables={},
                       sampler={}, reduction="none")
    assert sbc.fit_order(spec) == ["a", "b"]
    labels = {"a": [""], "b": ["0", "1", "2"]}
    rng = np.random.default_rng(0)
    sims, results = [], {}
    kinds = ["ok", "retried", "fit failed", "undrawable", "ok"]
    for i, kind in enumerate(kinds):
        undrawable = kind == "undrawable"
        truth = {"a": np.array([np.nan if undrawable else rng.normal()]),
                 "b": np.full(3, np.nan) if undrawable else rng.normal(size=3)}
        sims.append(sbc.Simulation(i, 100 + i, {}, truth, world=2 * i + 1,
                                   draw_error="prior world could not be drawn: X"
                                   if undrawable else None))
        res = {"sim": i, "worker": "w", "r_hat_max": 1.0, "ess_bulk_min": 500.0,
               "divergences": 0, "thin": 1, "compile_s": 1.0, "sample_s": 2.0,
               "worst_r_hat": "a", "worst_ess": "b[0]", "converged": True}
        if kind in ("ok", "retried"):
            fit_rng = np.random.default_rng([100 + i, 1])
            ranks = {}
            for name in ("a", "b"):
                rank = rng.integers(0, 21, size=len(labels[name])).astype(float)
                ranks[name] = (rank, 20.0, sbc_stats.pit_from_ranks(rank, 20.0, fit_rng))
            res.update(status="ok", attempts=2 if kind == "retried" else 1, error=None,
                       ranks=ranks)
        else:
            res = {"sim": i, "status": "failed", "worker": None,
                   "attempts": 0 if undrawable else 2,
                   "error": sims[-1].draw_error if undrawable else "boom"}
        results[i] = res
    ranks_table, sims_table = sbc.tables_from_results(spec, sims, labels, results)
    manifest = {k: 0 for k in sbc_stats.MANIFEST_KEYS} | {
        "model": "certified", "model_version": "test", "seed": 7, "reduction": "none",
        "model_config": {}, "sampler": {}, "worlds": {"worlds": "all"},
        "simulations": len(sims), "run_utc": "2026-12-06T00:00:00+00:00"}
    sbc_stats.write_sbc(tmp_path / "run", ranks_table, sims_table, manifest)
    pack = sbc_pack.write_pack(tmp_path / "run", tmp_path / "run.npz")
    reused, _ = _reuse(pack, spec, sims, labels, 7, None)
    assert [reused[i]["status"] for i in range(5)] == ["ok", "ok", "failed", "failed", "ok"]
    assert reused[1]["attempts"] == 2 and reused[3]["attempts"] == 0
    again_ranks, again_sims = sbc.tables_from_results(spec, sims, labels, reused)
    ranks_back, sims_back, _, _ = sbc_stats.read_sbc(tmp_path / "run")
    pd.testing.assert_frame_equal(sbc_stats.SBC_RANKS.validate(again_ranks), ranks_back,
                                  check_exact=True)
    pd.testing.assert_frame_equal(sbc_stats.SBC_SIMS.validate(again_sims), sims_back,
                                  check_exact=True)
    # a world that can be drawn now but could not be in the packed run: refused
    drawn = [dataclasses.replace(sim, draw_error=None) for sim in sims]
    with pytest.raises(SBCResumeError, match="simulation 3's world could not be drawn"):
        _reuse(pack, spec, drawn, labels, 7, None)


@pytest.mark.slow
def test_a_run_from_a_pack_stopped_early_writes_the_packed_fits(packed_run, monkeypatch,
                                                                tmp_path):
    """Stopped before its first checkpoint, a run gone on from a pack writes the packed
    simulations' tables (its output folder had none), and says so."""
    import distributed

    from burden.errors import SBCInterrupted

    _, pack, *_ = packed_run
    monkeypatch.setattr(distributed, "Client", FakeDaskClient)
    monkeypatch.setattr(distributed, "as_completed", fake_as_completed)
    real = sbc.run_one

    def stop_at_new(spec, sim):
        if sim.sim >= 3:
            raise KeyboardInterrupt
        return real(spec, sim)

    monkeypatch.setattr(sbc, "run_one", stop_at_new)
    out = tmp_path / "stopped"
    with pytest.raises(SBCInterrupted, match="first 3 simulations") as stopped:
        sbc.run("production", 4, scheduler="fake", out=out, sampler=SMALL, seed=SEED,
                resume_from_pack=pack)
    assert stopped.value.checkpoint == 3
    assert sbc_stats.read_sbc(out)[3]["simulations"] == 3


def test_the_pack_command_refuses_a_folder_as_its_file_and_leaves_nothing(tmp_path, capsys):
    from burden import cli

    ranks = pd.DataFrame({
        "model": "m", "sim": [0], "variable": ["x"], "index": "", "parameter": ["x"],
        "true": 0.5, "rank": [3.0], "n_draws": 10.0, "pit": [0.3], "status": "ok"})
    sims = pd.DataFrame({
        "model": "m", "sim": [0], "world": [0], "seed": [5], "status": "ok",
        "attempts": 1, "error": None, "r_hat_max": 1.0, "ess_bulk_min": 500.0,
        "divergences": 0, "thin": 1, "compile_s": 1.0, "sample_s": 1.0,
        "worst_r_hat": "x", "worst_ess": "x", "converged": True, "worker": "w"})
    manifest = {k: 0 for k in sbc_stats.MANIFEST_KEYS} | {"model": "m", "simulations": 1,
                                                          "run_utc": "2026-12-06"}
    sbc_stats.write_sbc(tmp_path / "run", ranks, sims, manifest)
    (tmp_path / "adir").mkdir()
    assert cli.main(["validate", "sbc-pack", str(tmp_path / "run"),
                     str(tmp_path / "adir")]) == 2
    assert "adir" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "run"]
    assert cli.main(["validate", "sbc-pack", str(tmp_path / "run"),
                     str(tmp_path / "run.npz")]) == 0
    assert "1 simulations of the m run" in capsys.readouterr().out
