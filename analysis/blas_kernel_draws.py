"""Does OpenBLAS's kernel change a fit's draws? A hash of the posterior of a short default
fit (5 tuning steps + 5 draws, 2 chains, the model's default seed), printed with the
OpenBLAS kernel numpy loaded: ``OPENBLAS_CORETYPE`` when set, else the one the command line
pins (``config.use_openblas_kernel_default``: Haswell on x86-64 CPUs with AVX2 and FMA),
else the one OpenBLAS picked for this CPU. Each run is its own process (OpenBLAS reads the
variable when it loads):

    python analysis/blas_kernel_draws.py deaths
    OPENBLAS_CORETYPE=Sandybridge python analysis/blas_kernel_draws.py deaths

On another machine, the first command's hashes must equal the Haswell column of the table
in docs/architecture.md ("Across machines"); where they do not, something besides the
OpenBLAS kernel depends on the CPU.

Needs the processed tables (``make data``) and, for ``markets``, the saved production fit.
docs/architecture.md, "Reproducibility", "Across machines", records what it found.
"""

from __future__ import annotations

import hashlib
import sys
import warnings

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import numpy as np

from burden import fits
from burden.models import storage


def posterior_hash(name: str) -> str:
    spec = fits.spec(name)
    cls = spec.estimator
    kwargs = {spec.upstream: fits.load_fit(spec.upstream)} if spec.upstream else {}
    est = cls(None, {"draws": 5, "tune": 5, "chains": 2}, **kwargs)
    est.fit(fits.read_tables(cls.data_tables), progressbar=False)
    post = est.idata["posterior"].to_dataset()
    digest = hashlib.sha256()
    for var in sorted(post.data_vars):
        digest.update(np.ascontiguousarray(post[var].values).tobytes())
    return digest.hexdigest()[:12]


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    for model in sys.argv[1:] or list(fits.FITS):
        digest = posterior_hash(model)
        kernel = storage.compute_environment()["openblas_kernels"] or "unknown"
        print(f"{model}\tOpenBLAS kernel {kernel}\tposterior hash {digest}", flush=True)
