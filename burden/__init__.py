"""burden: Bayesian estimates of the global burden of opioid deaths and their sources."""

__version__ = "0.1.0"
