"""SBC packs (``burden.validate.sbc_pack``): a run's fits in one small file rebuild the
run's own tables, a run goes on from them into a new folder, and a pack of another run,
a damaged pack or a file that is not one is refused with a message naming it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import SUBMITTED, FakeDaskClient

from burden.errors import SBCResumeError
from burden.validate import sbc, sbc_pack, sbc_stats

#: a production SBC of a few short fits in this process (the production spec: real
#: published design), small enough for a test; the numbers are arbitrary settings
SMALL = {"draws": 100, "tune": 100, "chains": 2}
SEED = 3


@pytest.fixture(scope="module")
def packed_run(tmp_path_factory):
    """(folder of a 3-simulation run, its pack, spec, 4 simulations, labels, record)."""
    import distributed

    folder = tmp_path_factory.mktemp("sbc_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(distributed, "Client", FakeDaskClient)
        mp.setattr(distributed, "as_completed", list)
        sbc.run("production", 3, scheduler="fake", out=folder, sampler=SMALL, seed=SEED)
    pack = sbc_pack.write_pack(folder, folder.parent / "run.npz")
    spec = sbc.production_spec()
    spec = dataclasses.replace(spec, sampler={**spec.sampler, **SMALL})
    sims, labels, record = sbc.simulate_worlds(spec, 4, SEED)
    return folder, pack, spec, sims, labels, record


@pytest.mark.slow
def test_a_pack_rebuilds_the_runs_own_tables(packed_run):
    """The pack's ranks and draw counts with the new draws' true values and PITs drawn
    again give the folder's tables exactly; the pack is several times smaller."""
    folder, pack, spec, sims, labels, record = packed_run
    from_folder, manifest = sbc.resume_from(folder, spec, sims, labels, SEED, record)
    from_pack, packed_manifest = sbc_pack.reused_from_pack(pack, spec, sims, labels, SEED,
                                                           record)
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
    monkeypatch.setattr(distributed, "as_completed", list)
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
        sbc_pack.reused_from_pack(pack, spec, sims, labels, SEED + 1, record)
    # another sampler setting
    other = dataclasses.replace(spec, sampler={**spec.sampler, "draws": 101})
    with pytest.raises(SBCResumeError, match="differs in sampler"):
        sbc_pack.reused_from_pack(pack, other, sims, labels, SEED, record)
    # a simulation drawn at another world
    table = sbc_pack.read_pack(pack)["sims"]
    table.loc[table["sim"] == 1, "world"] = 7
    moved = _rewritten(pack, tmp_path / "moved.npz", sims=np.str_(table.to_csv(index=False)))
    with pytest.raises(SBCResumeError, match="simulation 1 was world 7"):
        sbc_pack.reused_from_pack(moved, spec, sims, labels, SEED, record)
    # other parameters
    params = sbc_pack.read_pack(pack)["parameters"].copy()
    params[0] = "not_a_parameter"
    renamed = _rewritten(pack, tmp_path / "renamed.npz", parameters=params)
    with pytest.raises(SBCResumeError, match="ranks other parameters"):
        sbc_pack.reused_from_pack(renamed, spec, sims, labels, SEED, record)
    # a missing rank of a simulation that succeeded
    ranks = sbc_pack.read_pack(pack)["ranks"].copy()
    ranks[2, 0] = -1
    holed = _rewritten(pack, tmp_path / "holed.npz", ranks=ranks)
    with pytest.raises(SBCResumeError, match="simulation 2 succeeded but its ranks"):
        sbc_pack.reused_from_pack(holed, spec, sims, labels, SEED, record)
    # PITs that do not come back bit for bit (the fit's order of drawing them changed)
    digests = sbc_pack.read_pack(pack)["pit_sha256"].copy()
    digests[1] = "0" * 16
    drawn = _rewritten(pack, tmp_path / "drawn.npz", pit_sha256=digests)
    with pytest.raises(SBCResumeError, match="simulation 1's PITs drawn again"):
        sbc_pack.reused_from_pack(drawn, spec, sims, labels, SEED, record)
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
    with pytest.raises(SBCResumeError, match="text.npz is not an SBC pack"):
        sbc_pack.read_pack(tmp_path / "text.npz")
    with pytest.raises(SBCResumeError, match="no file"):
        sbc_pack.read_pack(tmp_path / "absent.npz")


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
