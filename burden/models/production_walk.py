"""Random walks by (source, year) sampled centred where data pin the level, non-centred
elsewhere (``OpiumProduction``'s log area and log yield).

The prior is a random walk per source: the level in the source's anchor year has its own
prior (a separate variable: ``anchors``), and each step between consecutive years is
Normal(0, sigma) or, where ``shock`` says so, Student-t(nu, 0, sigma). Steps are symmetric,
so walking back from an anchor after 1998 is the same walk.

How it is sampled (one model, whatever the form; ``walk_design``):

- **free levels** (centred): the years whose level the data pin (``free``), the anchor, and
  both years of every Student-t step. Each is a variable whose density is the law of its
  difference to the free level before it (towards the anchor): Student-t(nu, 0, sigma) for
  a Student-t step, else Normal(0, sigma sqrt(k)) for the sum of the k Normal steps between
  them;
- **bridges**: the k - 1 years between two free levels k > 1 years apart lie on the line
  between them plus sigma x a Brownian bridge from k - 1 standard-Normal innovations
  (steps D/k + sigma Q z, Q an orthonormal basis of the steps that sum to zero: iid
  Normal(0, sigma) steps given their sum D);
- **tails**: years before the first and after the last free level walk from it by sigma x
  standard-Normal innovations (non-centred).

Where data pin a level, the free level is what the data see (centred mixes well); where
nothing pins it, innovations avoid the funnel between levels and sigma; a gap between two
measured years is one free difference (pinned by both ends) plus innovations, instead of
innovations whose sum the data pin (a narrow ridge).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt


@dataclass(frozen=True)
class WalkDesign:
    """Index arrays of a walk over (source, year); see the module docstring.

    Levels are numbered [anchors (one per source), starts (first-year levels given with
    the anchors, ``start``), free levels, other levels]."""

    n_sources: int
    n_years: int
    anchor: np.ndarray  # (source,) anchor year index
    start: np.ndarray  # (source,) bool: the first-year level is given (a start)
    # free levels, in generation order (each steps from an anchor or an earlier free level)
    free_pos: np.ndarray  # flat source * n_years + year
    free_source: np.ndarray
    free_ref: np.ndarray  # level index (anchors then free) it steps from
    free_k: np.ndarray  # number of steps between them
    free_t: np.ndarray  # 1: one Student-t step, 0: k Normal steps
    # other levels: (1 - w) level[ref_a] + w level[ref_b] + sigma x sum(coef x z[z_idx])
    other_pos: np.ndarray
    other_source: np.ndarray
    other_ref_a: np.ndarray
    other_ref_b: np.ndarray
    other_w: np.ndarray
    z_idx: np.ndarray  # (other, width), padded with n_z (a zero)
    z_coef: np.ndarray
    n_z: int
    z_source: np.ndarray  # (n_z,) source of each innovation
    z_label: tuple[str, ...]  # (n_z,) e.g. "3 2005-2012 1" (source 3, bridge, 1st)

    @property
    def gather(self) -> np.ndarray:
        """(source * year,) index of each position's level in [anchors, free, other]."""
        n, pos = self.n_sources, np.empty(self.n_sources * self.n_years, dtype=int)
        pos[np.arange(n) * self.n_years + self.anchor] = np.arange(n)
        starts = np.flatnonzero(self.start)
        pos[starts * self.n_years] = n + np.arange(starts.size)
        n += starts.size
        pos[self.free_pos] = n + np.arange(self.free_pos.size)
        pos[self.other_pos] = n + self.free_pos.size + np.arange(self.other_pos.size)
        return pos


def bridge_matrix(k: int) -> np.ndarray:
    """(k - 1, k - 1) M: the k - 1 inner points of a Brownian bridge over k unit-variance
    steps with zero total are M z, z standard Normal (M = cumsum of an orthonormal basis of
    the steps that sum to zero, first k - 1 rows)."""
    # QR of [1, e_1, ..., e_{k-1}]: the first column spans the constant vector, the other
    # k - 1 are an orthonormal basis of the vectors that sum to zero
    q = np.linalg.qr(np.column_stack([np.ones(k), np.eye(k)[:, :-1]]))[0][:, 1:]
    return np.cumsum(q, axis=0)[:-1]


def walk_design(free: np.ndarray, anchor: np.ndarray, shock: np.ndarray,
                start: np.ndarray | None = None) -> WalkDesign:
    """The design of a walk: ``free`` (source, year) levels pinned by data, ``anchor``
    (source,) year of the level given first, ``shock`` (source, step) Student-t steps;
    ``start`` (source,) bool: the first-year level is given too (then the years between it
    and the anchor are a bridge; see ``OpiumProduction._random_walk``)."""
    n_sources, n_years = free.shape
    start = np.zeros(n_sources, dtype=bool) if start is None else np.asarray(start, bool)
    if (start & (np.asarray(anchor) == 0)).any() or (start & free.any(axis=1)).any():
        raise ValueError("a start is for a source without free levels, anchored later")
    free = free.copy()
    free[:, 1:] |= shock
    free[:, :-1] |= shock
    free[start, 0] = False
    level_of: dict[tuple[int, int], int] = {
        (int(s), 0): n_sources + i for i, s in enumerate(np.flatnonzero(start))}
    base = n_sources + int(start.sum())
    f_pos, f_src, f_ref, f_k, f_t = [], [], [], [], []
    o_pos, o_src, o_a, o_b, o_w, o_z, o_c = [], [], [], [], [], [], []
    z_source: list[int] = []
    z_label: list[str] = []
    for s in range(n_sources):
        a = int(anchor[s])
        level_of[(s, a)] = s
        years = sorted(set(np.flatnonzero(free[s]).tolist()) | {a} | ({0} if start[s] else set()))
        above = [y for y in years if y > a]
        below = [y for y in years if y < a and not (start[s] and y == 0)][::-1]
        for run, direction in ((above, 1), (below, -1)):
            prev = a
            for y in run:
                k = abs(y - prev)
                step = min(y, prev)  # shock[s, step] joins years step and step + 1
                f_pos.append(s * n_years + y)
                f_src.append(s)
                f_ref.append(level_of[(s, prev)])
                f_k.append(k)
                f_t.append(int(k == 1 and bool(shock[s, step])))
                level_of[(s, y)] = base + len(f_pos) - 1
                prev = y

        def innovations(count: int, lo: int, hi: int, s: int = s) -> list[int]:
            first = len(z_source)
            z_source.extend([s] * count)
            z_label.extend(f"{s} {lo}-{hi} {i + 1}" for i in range(count))
            return list(range(first, first + count))

        # bridges between consecutive free levels
        for lo, hi in itertools.pairwise(years):
            k = hi - lo
            if k < 2:
                continue
            if shock[s, lo:hi].any():  # pragma: no cover - free includes shock ends
                raise AssertionError("a Student-t step inside a bridge")
            z = innovations(k - 1, lo, hi)
            m = bridge_matrix(k)
            for j in range(1, k):
                o_pos.append(s * n_years + lo + j)
                o_src.append(s)
                o_a.append(level_of[(s, lo)])
                o_b.append(level_of[(s, hi)])
                o_w.append(j / k)
                o_z.append(z)
                o_c.append(m[j - 1].tolist())
        # tails: walk out of the first and the last free level
        first, last = years[0], years[-1]
        for origin, stop, direction in ((first, -1, -1), (last, n_years, 1)):
            count = abs(stop - origin) - 1
            if count <= 0:
                continue
            z = innovations(count, *sorted((origin, stop - direction)))
            for j in range(1, count + 1):
                o_pos.append(s * n_years + origin + direction * j)
                o_src.append(s)
                o_a.append(level_of[(s, origin)])
                o_b.append(level_of[(s, origin)])
                o_w.append(0.0)
                o_z.append(z[:j])
                o_c.append([1.0] * j)
    n_z = len(z_source)
    width = max([len(z) for z in o_z], default=1)
    z_idx = np.full((len(o_z), width), n_z, dtype=int)
    z_coef = np.zeros((len(o_z), width))
    for i, (z, c) in enumerate(zip(o_z, o_c)):
        z_idx[i, :len(z)] = z
        z_coef[i, :len(c)] = c
    ints = lambda x: np.asarray(x, dtype=int)
    return WalkDesign(
        n_sources=n_sources, n_years=n_years, anchor=ints(anchor), start=start,
        free_pos=ints(f_pos), free_source=ints(f_src), free_ref=ints(f_ref),
        free_k=ints(f_k), free_t=ints(f_t),
        other_pos=ints(o_pos), other_source=ints(o_src), other_ref_a=ints(o_a),
        other_ref_b=ints(o_b), other_w=np.asarray(o_w, dtype=float),
        z_idx=z_idx, z_coef=z_coef, n_z=n_z, z_source=ints(z_source),
        z_label=tuple(z_label))


def walk_levels(design: WalkDesign, anchors, sigma, nu: float, *, free_name: str,
                innovation_name: str, sources: list[str], years: list[int], starts=None,
                centring=None):
    """(source, year) levels of the walk; creates the free-level and innovation variables
    (``free_name``, ``innovation_name``) in the current model, labelled by source and year
    ("AFG 2001"; an innovation by its stretch: "GTM 2005-2012 1"). ``anchors`` (source,),
    ``starts`` (one per ``design.start``) and ``sigma`` (source,) are tensors.

    ``centring`` (source,) in [0, 1], a tensor (default 1: the free levels are the levels
    themselves): the free levels are sampled partially centred (Papaspiliopoulos, Roberts
    and Skold 2007, Statistical Science 22:59). The sampled values x~ walk from the anchor
    with steps of scale sigma ** w, and the levels are

        x = anchor + sigma ** (1 - w) * (x~ - anchor),

    so that every step of x keeps its law (scale sigma); only the geometry changes. w = 1 is
    centred (the data pin x~ = x), w = 0 non-centred (x~ is a walk of unit steps, the
    funnel between the levels and a small sigma is gone). ``w`` may depend on sigma and
    other parameters, never on the free levels: it is a change of variables for each value
    of them."""
    d = design
    model = pm.modelcontext(None)
    if d.free_pos.size:
        model.add_coord(f"{free_name}_at", [
            f"{sources[p // d.n_years]} {years[p % d.n_years]}" for p in d.free_pos])
    if d.n_z:
        labels = []
        for label in d.z_label:
            src, span, i = label.split(" ")
            lo, hi = (years[int(y)] for y in span.split("-"))
            labels.append(f"{sources[int(src)]} {lo}-{hi} {i}")
        model.add_coord(f"{innovation_name}_at", labels)
    if d.start.any():
        anchors = pt.concatenate([anchors, starts])
    levels = [anchors]
    if d.free_pos.size:
        src = d.free_source
        scale = sigma[src] if centring is None else sigma[src] ** centring[src]
        free = pm.CustomDist(
            free_name, anchors, scale, float(nu), d.free_ref,
            d.free_k.astype(float), d.free_t.astype(float), d.free_source,
            logp=_free_logp, random=_free_random, support_point=_free_support_point,
            signature="(s),(n),(),(n),(n),(n),(n)->(n)", dims=f"{free_name}_at")
        if centring is not None:
            # a source with starts has no free levels (walk_design), so every free level
            # walks from its own source's anchor
            free = anchors[src] + sigma[src] ** (1.0 - centring[src]) * (free - anchors[src])
        levels.append(free)
    if d.other_pos.size:
        known = pt.concatenate(levels)
        z = pm.Normal(innovation_name, 0.0, 1.0, dims=f"{innovation_name}_at")
        z_ext = pt.concatenate([z, pt.zeros(1)])
        noise = (z_ext[d.z_idx] * d.z_coef).sum(axis=1)
        other = ((1.0 - d.other_w) * known[d.other_ref_a] + d.other_w * known[d.other_ref_b]
                 + sigma[d.other_source] * noise)
        levels.append(other)
    return pt.concatenate(levels)[d.gather].reshape((d.n_sources, d.n_years))


def _free_logp(value, anchors, sigma, nu, ref, k, t, source):
    """Log density of each free level given the level it steps from (see module doc)."""
    diff = value - pt.concatenate([anchors, value])[ref]
    t_step = pm.logp(pm.StudentT.dist(nu=nu, mu=0.0, sigma=sigma), diff)
    z_step = pm.logp(pm.Normal.dist(0.0, sigma * pt.sqrt(k)), diff)
    return pt.switch(pt.eq(t, 1.0), t_step, z_step)


def _free_random(anchors, sigma, nu, ref, k, t, source, rng=None, size=None):
    """Prior draws of the free levels, in generation order (same law as ``_free_logp``)."""
    anchors, sigma = np.asarray(anchors), np.asarray(sigma)
    n = np.shape(ref)[-1]
    batch = tuple(size) if size is not None else np.broadcast_shapes(
        anchors.shape[:-1], sigma.shape[:-1])
    ref = np.asarray(ref).astype(int).reshape(-1)[-n:]
    k = np.asarray(k).reshape(-1)[-n:]
    t = np.asarray(t).reshape(-1)[-n:]
    levels = np.concatenate([np.broadcast_to(anchors, batch + anchors.shape[-1:]),
                             np.zeros(batch + (n,))], axis=-1)
    sigma = np.broadcast_to(sigma, batch + (n,))
    steps = np.where(t == 1, rng.standard_t(nu, size=batch + (n,)),
                     rng.standard_normal(batch + (n,)) * np.sqrt(k)) * sigma
    offset = anchors.shape[-1]
    for i in range(n):
        levels[..., offset + i] = levels[..., ref[i]] + steps[..., i]
    return levels[..., offset:]


def _free_support_point(rv, size, anchors, sigma, nu, ref, k, t, source):
    return pt.zeros_like(rv) + anchors[..., source]  # a source's anchor (starts follow)
