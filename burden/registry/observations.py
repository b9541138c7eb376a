"""What each fit observes, named for readers: the id a fit writes for the data source of its
observations and the readable name the report prints for it (LOO-PIT panel titles and the
page's checks summary).

A fit names the source of each observation in ``BayesianEstimator.observation_sources``;
where it names none, the observed variable's name stands for its source (``burden.validate
.loo_pit``), and that name is what a saved ``loo_pit`` table holds. The deaths and
production fits write readable names already ("GBD 2017 round", "UNODC area"): an id not
held here is printed as it is. The certified fit builds its source ids from ``KINDS``, so
the suffix of an id and the words that name it live together.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Observed:
    """Data a fit observes: the id its ``loo_pit`` table writes for them and their readable
    name. With ``prefix``, every id starting with ``id``: the rest of it fills the ``{}``
    of ``label``."""

    #: the fit (a name of ``burden.fits.FITS``)
    fit: str
    id: str
    label: str
    prefix: bool = False


@dataclass(frozen=True)
class Kind:
    """A kind of observation of a fit whose source ids say the kind: its observed variable,
    the suffix its source ids take, and the words the readable name adds."""

    variable: str
    suffix: str
    label: str


OBSERVED: dict[tuple[str, str], Observed] = {
    (o.fit, o.id): o
    for o in [
        # certified fit: where a certified count comes from (``certified_data``: registry
        # nida_deaths, vsrr_national, phac_harms)
        Observed("certified", "nchs_final", "NCHS final counts (US)"),
        Observed("certified", "vsrr", "VSRR provisional counts (US)"),
        Observed("certified", "phac", "PHAC apparent opioid toxicity deaths (Canada)"),
        # markets fit: its observed variables (registry reference_heroin_signature)
        Observed("markets", "obs_lower_bound",
                 "DEA Heroin Signature Program: 'more than' bounds in words"),
        Observed("markets", "obs_upper_bound",
                 "DEA Heroin Signature Program: 'less than' bounds in words"),
        # one variable per number of published parts of a year's shares (Dirichlet K)
        Observed("markets", "obs_composition_",
                 "DEA Heroin Signature Program: yearly shares in {} parts", prefix=True),
        # production fit: publisher family and measured kind (``production.MEASURE_KINDS``),
        # readable already but for the kinds named by a measure id
        *(Observed("production", f"{family} {kind}", f"{family} {words}")
          for family in ("UNODC", "US government")
          for kind, words in (("area_share", "share of world area"),
                              ("world_change", "yearly change of world production"))),
        # composition fit: its observed variables (registry unodc_prevalence, unodc_seizures)
        Observed("composition", "obs_prevalence", "UNODC prevalence: opiates / opioids"),
        Observed("composition", "obs_seizures", "UNODC seizures: opioid composition by weight"),
    ]
}

#: per fit, the kinds of its observations its source ids carry as a suffix
#: (``CertifiedDeaths.observation_sources``: a drug's count split from the any-opioid count
#: measures a share, its own source)
KINDS: dict[str, tuple[Kind, ...]] = {
    "certified": (
        Kind("certified_count", "", ""),
        Kind("drug_count", " drug share", ", by drug (share of any opioid)"),
        Kind("nowcast_count", " nowcast", ", nowcast years"),
        Kind("drug_nowcast", " drug share nowcast", ", by drug, nowcast years"),
        Kind("reported_lower_bound", " reported so far", ", reported so far (a bound)"),
    ),
}


def suffixes(fit: str) -> dict[str, str]:
    """The suffix of the source ids of each observed variable of ``fit`` (``KINDS``)."""
    return {k.variable: k.suffix for k in KINDS.get(fit, ())}


def label(fit: str, source: str) -> str:
    """The readable name of ``source`` as ``fit`` writes it in its ``loo_pit`` table:
    ``OBSERVED``, with the words of the kind its id ends in (``KINDS``); an id held nowhere
    here is returned as it is."""
    if (fit, source) in OBSERVED:
        return OBSERVED[(fit, source)].label
    for kind in sorted(KINDS.get(fit, ()), key=lambda k: -len(k.suffix)):
        base = source.removesuffix(kind.suffix)
        if kind.suffix and base != source and (fit, base) in OBSERVED:
            return OBSERVED[(fit, base)].label + kind.label
    for o in OBSERVED.values():
        if o.fit == fit and o.prefix and source.startswith(o.id):
            return o.label.format(source.removeprefix(o.id))
    return source
