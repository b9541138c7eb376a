"""The fits of the pipeline: which estimator, which processed tables, which upstream fit.

One registry (``FITS``) and two functions used by the command line, the Makefile and
notebooks alike: ``fit_and_save`` (processed tables -> ``models/<name>.nc``) and
``load_fit`` (a saved fit with its own class). Each fit has its own typed model config.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from burden import config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitSpec:
    """A fitted model of the pipeline."""

    name: str
    module: str
    cls: str
    #: a fit whose saved model this one needs (markets use the production draws)
    upstream: str | None = None

    @property
    def estimator(self) -> type:
        return getattr(importlib.import_module(self.module), self.cls)

    def path(self, models_dir: Path | None = None) -> Path:
        return (models_dir or config.models_dir()) / f"{self.name}.nc"


FITS: dict[str, FitSpec] = {
    f.name: f
    for f in [
        FitSpec("deaths", "burden.models.deaths", "OpioidDeaths"),
        FitSpec("production", "burden.models.production", "OpiumProduction"),
        FitSpec("markets", "burden.models.markets", "MarketShares", upstream="production"),
        FitSpec("certified", "burden.models.certified", "CertifiedDeaths"),
        FitSpec("composition", "burden.models.composition", "OpioidComposition"),
    ]
}


def spec(name: str) -> FitSpec:
    try:
        return FITS[name]
    except KeyError:
        raise ValueError(f"unknown fit {name!r}; known: {', '.join(FITS)}") from None


def read_tables(tables: tuple[str, ...], processed_dir: Path | None = None
                ) -> dict[str, pd.DataFrame]:
    """The processed tables a model needs; a missing one names the command that makes it."""
    processed_dir = processed_dir or config.processed_dir()
    out = {}
    for name in tables:
        path = processed_dir / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run `burden data --table {name}`")
        out[name] = pd.read_parquet(path)
    return out


def load_fit(name: str, models_dir: Path | None = None) -> Any:
    """The saved fit ``name`` (``models/<name>.nc``), loaded with its own class."""
    s = spec(name)
    path = s.path(models_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `burden fit {name}`")
    return s.estimator.load(path)


def fit_and_save(name: str, *, model_config: dict | None = None,
                 sampler_config: dict | None = None, processed_dir: Path | None = None,
                 models_dir: Path | None = None, progressbar: bool | None = None) -> Path:
    """Fit ``name`` on the processed tables and save it to ``models/<name>.nc``."""
    return fit_and_keep(name, model_config=model_config, sampler_config=sampler_config,
                        processed_dir=processed_dir, models_dir=models_dir,
                        progressbar=progressbar)[1]


def fit_and_keep(name: str, *, model_config: dict | None = None,
                 sampler_config: dict | None = None, processed_dir: Path | None = None,
                 models_dir: Path | None = None, progressbar: bool | None = None,
                 out: Path | None = None) -> tuple[Any, Path]:
    """``fit_and_save``, returning the fitted estimator (as fitted, not reloaded) too;
    ``out``: save there instead of ``models/<name>.nc`` (the pipeline's fit)."""
    s = spec(name)
    cls = s.estimator
    kwargs: dict[str, Any] = {}
    if s.upstream is not None:
        kwargs[s.upstream] = load_fit(s.upstream, models_dir)
    model = cls(model_config, sampler_config, **kwargs)
    model.fit(read_tables(cls.data_tables, processed_dir), progressbar=progressbar)
    path = model.save(Path(out) if out is not None else s.path(models_dir))
    log.info("saved %s", path)
    return model, path
