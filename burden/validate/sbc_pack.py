"""A run's fits in one small file, to carry a long SBC run to another machine.

A run's rank table has a row per simulation and ranked parameter, with the true value and
the PIT beside the rank: the deaths model's posterior SBC ranks 4,795 parameters
(docs/validation/sbc.md), so its ``ranks.csv`` grows by about 0.5 MB a simulation. A pack
keeps only what a run cannot draw again: the manifest, the simulations table, and each
rank and number of draws as an integer (``write_pack``; ``burden validate sbc-pack``).
The rest is drawn again when the run goes on from the pack (``--resume-from PACK``,
``reused_from_pack``):

- the true values are the new run's own draws: the same seed draws the same worlds (and
  for posterior worlds the same saved fit by its fingerprint, ``posterior_sbc``), which
  is checked by each simulation's world and fit seed, a digest of its true values, and,
  as with ``--resume``, by fitting the first two again and comparing their ranks;
- each PIT is drawn from its rank with the simulation's own generator, in the order the
  fit drew them (``sbc.fit_order``), so it is the PIT the fit wrote; the pack keeps a
  digest of each simulation's PITs, and PITs drawn otherwise (another variable order)
  are refused, not used.

The tables rebuilt from a pack are those of the folder it was packed from
(tests/test_sbc_pack.py). The file is a NumPy ``.npz`` of numbers and text, read without
pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from burden.validate import sbc, sbc_specs, sbc_stats

#: format of the pack; a pack of another format is refused
PACK_FORMAT = 1
#: the arrays a pack holds
PACK_KEYS = ("format", "manifest", "sims", "sim", "parameters", "ranks", "n_draws",
             "pit_sha256", "truth_sha256")
#: what reading a damaged or foreign file can raise
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def values_digest(values: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of float values as float64, NaN by position (any NaN
    the same): a simulation's PITs or true values, in the rank table's order."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    missing = np.isnan(values)
    h = hashlib.sha256(missing.tobytes())
    h.update(np.where(missing, 0.0, values).tobytes())
    return h.hexdigest()[:16]


def write_pack(folder: Path, dest: Path) -> Path:
    """Write the run in ``folder`` (``sbc_stats.write_sbc``'s tables: a finished run or a
    checkpoint) to the pack ``dest``. Raises ``ValueError`` naming the folder when its
    tables are not one run's (simulations ranking other parameters, a manifest that does
    not count the simulations table's rows, or a checkpoint written while packing)."""
    import pandera.errors

    folder, dest = Path(folder), Path(dest)
    manifest_path = sbc_stats.paths(folder)["manifest"]
    before = manifest_path.read_bytes() if manifest_path.exists() else None
    try:
        ranks, sims, _, manifest = sbc_stats.read_sbc(folder, judge=False)
    except pandera.errors.SchemaErrors as exc:
        raise ValueError(f"{folder}: its tables are not an SBC run's: {exc}") from exc
    if int(manifest["simulations"]) != len(sims):
        raise ValueError(f"{folder}: the manifest counts {manifest['simulations']} "
                         f"simulations, sims.csv has {len(sims)} rows: a run was writing "
                         "its tables? Pack again once it has written them")
    ranks = ranks.sort_values("sim", kind="stable")
    order = sorted(int(i) for i in sims["sim"])
    groups = {int(i): g for i, g in ranks.groupby("sim", sort=True)}
    if sorted(groups) != order:
        raise ValueError(f"{folder}: the rank table's simulations differ from sims.csv's")
    params = groups[order[0]]["parameter"].tolist()
    rank = np.full((len(order), len(params)), -1, dtype=np.int32)
    n_draws = np.full((len(order), len(params)), -1, dtype=np.int32)
    pit_sha = np.full(len(order), "", dtype="<U16")
    truth_sha = np.full(len(order), "", dtype="<U16")
    for k, i in enumerate(order):
        part = groups[i]
        if part["parameter"].tolist() != params:
            raise ValueError(f"{folder}: simulation {i} ranks other parameters than "
                             f"simulation {order[0]}: not one run's tables")
        ok = part["rank"].notna().to_numpy()
        rank[k, ok] = part["rank"].to_numpy()[ok].astype(np.int32)
        n_draws[k, ok] = part["n_draws"].to_numpy()[ok].astype(np.int32)
        truth_sha[k] = values_digest(part["true"].to_numpy(float))
        if ok.all():
            pit_sha[k] = values_digest(part["pit"].to_numpy(float))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part_file = dest.with_name(dest.name + ".part")
    try:
        with open(part_file, "wb") as f:
            np.savez_compressed(
                f, format=np.int64(PACK_FORMAT), manifest=np.str_(json.dumps(manifest)),
                sims=np.str_(sims.to_csv(index=False)),
                sim=np.asarray(order, dtype=np.int64),
                parameters=np.asarray(params, dtype=str), ranks=rank, n_draws=n_draws,
                pit_sha256=pit_sha, truth_sha256=truth_sha)
        if manifest_path.read_bytes() != before:
            raise ValueError(f"{folder}: a run wrote new tables while they were packed: "
                             "pack again")
        part_file.replace(dest)
    finally:
        part_file.unlink(missing_ok=True)
    return dest


def read_pack(path: Path) -> dict:
    """The arrays of the pack at ``path``, the manifest and simulations table decoded.
    Raises ``SBCResumeError`` naming the file when it is not a whole pack this version
    reads."""
    import pandera.errors

    from burden.errors import SBCResumeError

    path = Path(path)
    if not path.is_file():
        raise SBCResumeError(f"--resume-from: no file {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in PACK_KEYS if k not in data.files]
            if missing:
                raise SBCResumeError(f"--resume-from: {path} is not an SBC pack: it lacks "
                                     f"{missing} (write one with `burden validate "
                                     "sbc-pack`)")
            out = {k: data[k] for k in PACK_KEYS}
        fmt = int(out["format"])
        if fmt != PACK_FORMAT:
            raise SBCResumeError(f"--resume-from: {path} is a pack of format {fmt}; this "
                                 f"version reads format {PACK_FORMAT}")
        out["manifest"] = json.loads(str(out["manifest"]))
        missing = [k for k in sbc_stats.MANIFEST_KEYS if k not in out["manifest"]]
        if missing:
            raise SBCResumeError(f"--resume-from: {path}: its manifest lacks {missing}")
        out["sims"] = sbc_stats.SBC_SIMS.validate(
            pd.read_csv(io.StringIO(str(out["sims"]))), lazy=True)
    except (*_READ_ERRORS, pandera.errors.SchemaErrors) as exc:
        raise SBCResumeError(f"--resume-from: {path} is not a whole SBC pack "
                             f"({type(exc).__name__}: {exc})") from exc
    shape = (len(out["sim"]), len(out["parameters"]))
    if any(out[k].shape != shape for k in ("ranks", "n_draws")) or any(
            out[k].shape != shape[:1] for k in ("pit_sha256", "truth_sha256")):
        raise SBCResumeError(f"--resume-from: {path}: its ranks are {out['ranks'].shape}, "
                             f"not {shape} (simulations x parameters)")
    return out


def reused_from_pack(pack: dict, path: Path, spec: sbc_specs.SBCSpec,
                     sims: list[sbc.Simulation], labels: dict[str, list[str]], seed: int,
                     worlds: dict | None = None) -> tuple[dict[int, dict], dict]:
    """(sim -> result, earlier manifest): as ``sbc.resume_from`` for a folder, from the
    pack ``pack`` (``read_pack`` of ``path``); the true values are ``sims``' own, checked
    against the pack's digest, and each PIT is drawn again from its rank as the fit drew
    it. Raises ``SBCResumeError`` when the pack is of another run (model, seed, design,
    settings, worlds), ranks other parameters, or a simulation's world, fit seed, true
    values or PITs differ from the new draws'."""
    from burden.errors import SBCResumeError

    flag = "--resume-from"
    manifest = pack["manifest"]
    sbc.check_same_run(manifest, spec, seed, worlds, len(sims), str(path), flag)
    expected = [f"{name}[{lab}]" if lab else name for name, labs in labels.items()
                for lab in labs]
    params = pack["parameters"].tolist()
    if params != expected:
        differ = sorted(set(params) ^ set(expected))[:3] or ["their order"]
        raise SBCResumeError(f"{flag}: {path} ranks other parameters than this run "
                             f"(first differences: {differ})")
    rows = pack["sims"].set_index("sim")
    position = {int(i): k for k, i in enumerate(pack["sim"])}
    where, order = _columns_and_fit_order(labels, spec, path, flag)
    reused = {}
    for sim in sims[:int(manifest["simulations"])]:
        if sim.sim not in rows.index or sim.sim not in position:
            raise SBCResumeError(f"{flag}: simulation {sim.sim} is missing from {path}")
        row, k = rows.loc[sim.sim], position[sim.sim]
        sbc.check_same_simulation(sim, row, str(path), flag)
        truth = np.concatenate([np.asarray(sim.truth[name], dtype=float).reshape(-1)
                                for name in labels])
        if values_digest(truth) != str(pack["truth_sha256"][k]):
            raise SBCResumeError(f"{flag}: simulation {sim.sim}'s true values differ from "
                                 f"those packed in {path}: not the same simulations "
                                 "(another prior, saved fit or model version)")
        ranks = (_packed_ranks(pack, k, sim.sim, sim.seed, order, where, path, flag)
                 if row["status"] == "ok" else None)
        reused[sim.sim] = sbc.result_from_row(sim, row, ranks)
    return reused, manifest


def _columns_and_fit_order(labels: dict[str, list[str]], spec: sbc_specs.SBCSpec, path: Path,
                           flag: str) -> tuple[dict[str, slice], list[str]]:
    """(each variable's columns in the pack, in the rank table's order; the order in which
    the model's fit ranks them). Raises ``SBCResumeError`` when the fit ranks other
    variables than the pack holds (another model version)."""
    from burden.errors import SBCResumeError

    where, start = {}, 0
    for name, labs in labels.items():
        where[name], start = slice(start, start + len(labs)), start + len(labs)
    order = sbc.fit_order(spec)
    if sorted(order) != sorted(labels):
        raise SBCResumeError(f"{flag}: {path}: this model's fit ranks {order}, the run's "
                             f"tables {list(labels)}")
    return where, order


def _packed_ranks(pack: dict, k: int, sim: int, seed: int, order: list[str],
                  where: dict[str, slice], path: Path, flag: str
                  ) -> dict[str, tuple[np.ndarray, float, np.ndarray]]:
    """name -> (ranks, draws, PITs) of the pack's ``k``-th simulation (numbered ``sim``,
    fit seed ``seed``), in the rank table's order (``where``), each PIT drawn again from
    its rank with the fit's generator in the fit's order ``order``. Raises
    ``SBCResumeError`` when a rank is missing or the PITs differ from the run's (their
    digest)."""
    from burden.errors import SBCResumeError

    rng = np.random.default_rng([seed, 1])  # the fit's PIT generator
    ranks = {}
    for name in order:  # the order the fit drew the PITs in
        rank = pack["ranks"][k, where[name]].astype(float)
        n_draws = pack["n_draws"][k, where[name]]
        if (rank < 0).any() or len(set(n_draws.tolist())) != 1:
            raise SBCResumeError(f"{flag}: {path}: simulation {sim} succeeded but its "
                                 f"ranks of {name} are incomplete")
        n = float(n_draws[0])
        ranks[name] = (rank, n, sbc_stats.pit_from_ranks(rank, n, rng))
    ranks = {name: ranks[name] for name in where}
    pits = np.concatenate([pit for _, _, pit in ranks.values()])
    if values_digest(pits) != str(pack["pit_sha256"][k]):
        advice = ("go on from the run's folder with --resume instead" if flag ==
                  "--resume-from" else "read the run's folder instead")
        raise SBCResumeError(
            f"{flag}: {path}: simulation {sim}'s PITs drawn again from its ranks differ "
            f"from the run's (the order in which the fit draws them changed): {advice}")
    return ranks


def _packed_labels(pack: dict) -> dict[str, list[str]]:
    """variable -> its parameters' labels, in the pack's order (``name[label]`` or a
    bare ``name``)."""
    labels: dict[str, list[str]] = {}
    for param in pack["parameters"].tolist():
        name, _, lab = param.partition("[")
        labels.setdefault(name, []).append(lab[:-1] if lab else "")
    return labels


def pack_ranks(pack: dict, path: Path, spec: sbc_specs.SBCSpec) -> pd.DataFrame:
    """The rank table of the pack ``pack`` (``read_pack`` of ``path``) without
    drawing its worlds again: each PIT drawn again from its rank as the fit drew it
    (checked against the pack's digest), and ``true`` NaN (a pack keeps the true values
    only as a digest). ``spec`` is the run's model spec (for the fit's order of
    variables). For analyses of a long run's PITs (analysis/sbc_truth_quantiles.py);
    raises ``SBCResumeError`` when the pack is of another model or its PITs cannot be
    drawn again."""
    from burden.errors import SBCResumeError

    flag = "pack"
    if pack["manifest"]["model"] != spec.model:
        raise SBCResumeError(f"{flag}: {path} is a run of {pack['manifest']['model']}, "
                             f"not {spec.model}")
    labels = _packed_labels(pack)
    where, order = _columns_and_fit_order(labels, spec, path, flag)
    rows = pack["sims"].set_index("sim")
    sims, results = [], {}
    for k, i in enumerate(pack["sim"].tolist()):
        if int(i) not in rows.index:
            raise SBCResumeError(f"{flag}: {path}: simulation {i} is ranked but missing "
                                 "from its simulations table")
        row = rows.loc[int(i)]
        world = row.get("world")
        sim = sbc.Simulation(int(i), int(row["seed"]), {},
                             {name: np.full(len(labs), np.nan)
                              for name, labs in labels.items()},
                             world=None if world is None or pd.isna(world) else int(world))
        ranks = (_packed_ranks(pack, k, sim.sim, sim.seed, order, where, path, "pack")
                 if row["status"] == "ok" else None)
        sims.append(sim)
        results[sim.sim] = sbc.result_from_row(sim, row, ranks)
    table, _ = sbc.tables_from_results(spec, sims, labels, results)
    return sbc_stats.SBC_RANKS.validate(table, lazy=True)
