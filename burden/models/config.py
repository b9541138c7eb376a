"""Typed configuration of every estimator: priors as objects, configs as frozen dataclasses.

- ``Prior("Normal", mu=0, sigma=2)`` names a PyMC distribution and its parameters; it prints
  as it is used (``Normal(mu=0, sigma=2)``) and creates the variable with ``.create(name)``.
- ``Config`` subclasses are frozen dataclasses. ``Cls.merge(overrides)`` applies a dict of
  overrides (nested configs merge key by key) and rejects an unknown key with an error that
  lists the valid ones, so ``{"prior": ...}`` for ``{"priors": ...}`` fails instead of
  silently using the default.
- ``SamplerConfig``: the sampler settings shared by every model (one sampler switch).

``describe_priors`` renders a config's priors as a Markdown table: the model docs embed
that table, and a test checks the docs against the code.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from burden.errors import ConfigError

NUTS_SAMPLERS = ("nutpie", "pymc", "numpyro")
#: nutpie's mass-matrix adaptations (``nutpie.sample(adaptation=...)``) that ``SamplerConfig``
#: offers
MASS_MATRICES = ("diag", "draw_diag", "low_rank")


class Prior:
    """A prior: a PyMC distribution name and its (numeric) parameters."""

    __slots__ = ("dist", "params")

    def __init__(self, dist: str, **params: float):
        import pymc as pm

        if not isinstance(getattr(pm, dist, None), type):
            raise ConfigError(f"Prior: {dist!r} is not a PyMC distribution")
        for key, value in params.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"Prior {dist}: parameter {key}={value!r} is not a number")
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", {k: float(v) for k, v in params.items()})

    def __setattr__(self, name, value):
        raise AttributeError("Prior is immutable: build a new one")

    def __getitem__(self, key: str) -> float:
        try:
            return self.params[key]
        except KeyError:
            raise ConfigError(f"{self} has no parameter {key!r}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prior) and (self.dist, self.params) == (other.dist,
                                                                         other.params)

    def __hash__(self) -> int:
        return hash((self.dist, tuple(sorted(self.params.items()))))

    def create(self, name: str, **kwargs: Any):
        """The PyMC random variable ``name`` with this prior (inside a model context)."""
        import pymc as pm

        rv = getattr(pm, self.dist)(name, **self.params, **kwargs)
        # marked as a configured (top-level) prior: prior sensitivity power-scales these,
        # not the structural walk and hierarchy terms (burden.validate.prior_sensitivity)
        rv.tag.config_prior = True
        return rv

    def to_dict(self) -> dict:
        return {"dist": self.dist, **self.params}

    @classmethod
    def coerce(cls, value: Any, where: str) -> Prior:
        """A Prior from a Prior or a dict ``{"dist": ..., params...}``."""
        if isinstance(value, Prior):
            return value
        if isinstance(value, Mapping) and "dist" in value:
            params = {k: v for k, v in value.items() if k != "dist"}
            return cls(str(value["dist"]), **params)
        raise ConfigError(f"{where}: expected a Prior or a dict with 'dist' and its "
                          f"parameters, got {value!r}")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every typed config: merge overrides, reject unknown keys, serialise."""

    @classmethod
    def valid_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def merge(cls, overrides: Mapping[str, Any] | Config | None = None,
              base: Self | None = None) -> Self:
        """``base`` (default: the class defaults) with ``overrides`` applied key by key."""
        base = cls() if base is None else base
        if overrides is None:
            return base
        if isinstance(overrides, cls):
            return overrides
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"{cls.__name__}: expected a dict of overrides, got "
                              f"{type(overrides).__name__}")
        valid = cls.valid_keys()
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; valid keys: "
                              f"{', '.join(valid)}")
        changes = {}
        for f in dataclasses.fields(cls):
            if f.name not in overrides:
                continue
            current, value = getattr(base, f.name), overrides[f.name]
            where = f"{cls.__name__}.{f.name}"
            if isinstance(current, Config):
                value = type(current).merge(value, current)
            elif isinstance(current, Prior):
                value = Prior.coerce(value, where)
            else:
                value = _check_type(value, current, where)
            changes[f.name] = value
        return dataclasses.replace(base, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (priors as ``{"dist": ..., params...}``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        return cls.merge(values)


def _plain(value: Any) -> Any:
    if isinstance(value, Config | Prior):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _check_type(value: Any, current: Any, where: str) -> Any:
    """``value`` if it has the type of the default ``current`` (ints pass as floats, lists
    as tuples); a default of None accepts anything (checked by the model)."""
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif isinstance(current, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and isinstance(current, int) and not isinstance(current, bool):
            ok = float(value).is_integer()
            value = int(value) if ok else value
        elif ok:
            value = float(value)
    elif isinstance(current, tuple):
        ok = isinstance(value, list | tuple)
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise ConfigError(f"{where}: expected {type(current).__name__} like the default "
                          f"{current!r}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class SamplerConfig(Config):
    """How to sample: the same fields for every model (defaults differ by model)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    nuts_sampler: str = "nutpie"
    random_seed: int = 20171
    #: processes for chains (PyMC's own default is CPUs / 2: one core on a 2-core machine);
    #: None = one per chain up to the number of CPUs
    cores: int | None = None
    #: nutpie's mass matrix: "diag" (its default: each coordinate's scale from its draws'
    #: and its gradients' variances), "draw_diag" (from the draws' variances only) or
    #: "low_rank" (diagonal plus a low-rank correction learned in tuning: nutpie's
    #: ``adaptation="low_rank"``), for posteriors with strongly correlated directions;
    #: PyMC's own sampler has only the diagonal one
    mass_matrix: str = "diag"
    #: nutpie's ``mass_matrix_gamma`` for the low-rank mass matrix (the regularisation of
    #: its eigenvalue estimate; unused with the diagonal one); None = nutpie's default (1e-5)
    mass_matrix_gamma: float | None = None
    #: nutpie's ``mass_matrix_eigval_cutoff`` for the low-rank mass matrix: eigenvalues of
    #: the estimated correlation between this and its inverse are left to the diagonal
    #: (unused with the diagonal one); None = nutpie's default (100)
    mass_matrix_eigval_cutoff: float | None = None
    #: keep every ``thin``-th draw of each chain (1: every draw): ``draws`` are sampled and
    #: ``ceil(draws / thin)`` kept, the first of each chain among them. Where a model's
    #: slowest quantities are strongly autocorrelated, the kept draws hold nearly all their
    #: effective draws in a fraction of the numbers (deaths: docs/performance.md,
    #: "Thinned, not rounded")
    thin: int = 1

    samplers: ClassVar[tuple[str, ...]] = NUTS_SAMPLERS

    def __post_init__(self):
        if self.nuts_sampler not in NUTS_SAMPLERS:
            raise ConfigError(f"SamplerConfig.nuts_sampler must be one of {NUTS_SAMPLERS}, "
                              f"not {self.nuts_sampler!r}")
        for name in ("draws", "tune", "chains", "thin"):
            if getattr(self, name) < (0 if name == "tune" else 1):
                raise ConfigError(f"SamplerConfig.{name} must be positive")
        if not 0 < self.target_accept < 1:
            raise ConfigError("SamplerConfig.target_accept must lie in (0, 1)")
        if self.mass_matrix not in MASS_MATRICES:
            raise ConfigError(f"SamplerConfig.mass_matrix must be one of {MASS_MATRICES}, "
                              f"not {self.mass_matrix!r}")
        if self.mass_matrix_gamma is not None:
            gamma = self.mass_matrix_gamma
            if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not gamma > 0:
                raise ConfigError(f"SamplerConfig.mass_matrix_gamma must be a number > 0, not "
                                  f"{gamma!r}")
        if self.mass_matrix_eigval_cutoff is not None:
            cutoff = self.mass_matrix_eigval_cutoff
            if isinstance(cutoff, bool) or not isinstance(cutoff, int | float) or not cutoff > 1:
                raise ConfigError(f"SamplerConfig.mass_matrix_eigval_cutoff must be a number "
                                  f"> 1, not {cutoff!r}")

    def nutpie_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``nutpie.sample`` for the mass matrix (the gamma and the
        cutoff only with the low-rank one, so that ``{"mass_matrix": "diag"}`` over a
        model's low-rank default just works)."""
        out: dict[str, Any] = {"adaptation": self.mass_matrix}
        if self.mass_matrix == "low_rank":
            if self.mass_matrix_gamma is not None:
                out["mass_matrix_gamma"] = float(self.mass_matrix_gamma)
            if self.mass_matrix_eigval_cutoff is not None:
                out["mass_matrix_eigval_cutoff"] = float(self.mass_matrix_eigval_cutoff)
        return out

    def sample_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``pm.sample``."""
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains,
                "cores": self.cores or min(self.chains, os.cpu_count() or 1),
                "nuts_sampler": self.nuts_sampler, "random_seed": self.random_seed,
                "target_accept": self.target_accept}


def iter_priors(config: Config, prefix: str = "") -> list[tuple[str, Prior, str]]:
    """(dotted name, prior, comment) of every prior in ``config``, nested configs included;
    the comment is the field's ``metadata["doc"]`` (the reason for the prior)."""
    out = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, Prior):
            out.append((prefix + f.name, value, f.metadata.get("doc", "")))
        elif isinstance(value, Config):
            out.extend(iter_priors(value, prefix=f"{prefix}{f.name}."))
    return out


def describe_priors(config: Config) -> str:
    """A Markdown table of the priors of ``config`` (name, prior, reason)."""
    lines = ["| setting | prior | why |", "|---|---|---|"]
    for name, prior, doc in iter_priors(config):
        lines.append(f"| `{name}` | `{prior}` | {doc} |")
    return "\n".join(lines)


def prior(dist: str, doc: str = "", **params: float) -> Any:
    """A dataclass field whose default is ``Prior(dist, **params)``, documented by ``doc``."""
    return dataclasses.field(default=Prior(dist, **params), metadata={"doc": doc})


def setting(default: Any, doc: str = "") -> Any:
    """A dataclass field for a plain setting, documented by ``doc``."""
    if isinstance(default, list | dict):
        raise TypeError("use a tuple (or a Mapping field with default_factory)")
    return dataclasses.field(default=default, metadata={"doc": doc})


def log(value: float) -> float:
    return math.log(value)


#: Model docs that list each fit's priors (a block generated from the code).
PRIOR_DOCS = {"deaths": "docs/models/deaths.md", "production": "docs/models/shares.md",
              "markets": "docs/models/shares.md", "certified": "docs/models/certified.md",
              "composition": "docs/models/composition.md"}


def prior_block(fit: str, config: Config) -> str:
    """The generated priors block of ``fit`` as it stands in its model doc."""
    return (f"<!-- priors: {fit} (generated from the code by `burden priors {fit} "
            f"--update-docs`; do not edit by hand) -->\n{describe_priors(config)}\n"
            f"<!-- /priors: {fit} -->")


def update_prior_docs(fit: str, config: Config, root) -> Path:
    """Replace (or append) the priors block of ``fit`` in its model doc under ``root``."""
    import re

    path = Path(root) / PRIOR_DOCS[fit]
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"<!-- priors: {fit} .*?<!-- /priors: {fit} -->", re.DOTALL)
    block = prior_block(fit, config)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else (
        text.rstrip() + "\n\n" + block + "\n")
    path.write_text(text, encoding="utf-8")
    return path
