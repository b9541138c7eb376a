"""Errors shared across layers (kept at the bottom so registries can raise them), and the
command line's exit codes.

Exit codes of ``burden`` (README, "Exit codes"):

- ``EXIT_OK`` 0: done.
- ``EXIT_FAILED`` 1: the work started and failed (a raw file that does not parse, a model
  or a result table that breaks its checks while being made).
- ``EXIT_CANNOT_START`` 2: the command could not start as asked: options malformed or in
  conflict (argparse's own usage errors, a ``ConfigError`` from ``--model-config`` or a
  design option), or an input it needs is missing (a raw file, a saved fit, a result
  table: the message names the command that makes it).
- ``EXIT_CHECKS_FAILED`` 3: done, but the result fails its checks: a fit that did not
  converge (kept, and flagged in the report), an SBC run with a failing variable or a
  failed simulation, a benchmark with failed runs.
- ``EXIT_INTERRUPTED`` 130: stopped by Ctrl-C or SIGTERM (an SBC run keeps what it did).
"""

from __future__ import annotations

import errno
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANNOT_START = 2
EXIT_CHECKS_FAILED = 3
EXIT_INTERRUPTED = 130


class DataFormatError(ValueError):
    """A raw file is not in the format its loader expects.

    The message names the file, the line (1-based, as a text editor shows it), the column
    and what was expected, so the user can open the file and see the problem.
    """

    def __init__(
        self,
        file: str | Path,
        problem: str,
        *,
        line: int | None = None,
        column: str | None = None,
        expected: str | None = None,
    ):
        self.file = str(file)
        self.line = line
        self.column = column
        self.problem = problem
        self.expected = expected
        where = [self.file]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        msg = f"{', '.join(where)}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


class MissingRawFileError(FileNotFoundError):
    """A loader was given a file that does not exist (``textfile.read_raw``, which every
    loader reads through).

    A ``FileNotFoundError`` (``errno``, ``filename`` set), so code catching that still does.
    The message names the path and, when the file name is a registered source's, the
    source (``source``: its id, else None) and how to get the file: ``burden fetch SOURCE``
    for a raw file, the package's own copy for a curated reference table.
    """

    def __init__(self, file: str | Path, message: str, *, source: str | None = None):
        super().__init__(errno.ENOENT, message, str(file))
        self.file = str(file)
        self.source = source

    def __str__(self) -> str:
        return self.strerror


class ConfigError(ValueError):
    """A model or sampler configuration, or a command-line option's value, is invalid
    (unknown key, wrong type or value). The command line exits ``EXIT_CANNOT_START``."""


class NotFittedError(RuntimeError):
    """An estimator was asked for results before ``fit`` (or ``load``)."""


class ConvergenceWarning(UserWarning):
    """The sampler did not converge by the package's thresholds: do not trust the numbers."""


class SBCResumeError(RuntimeError):
    """``burden validate sbc --resume`` cannot reuse the run already in the output folder:
    another model, seed, design or sampler, other simulations, or fits that no longer give
    the same ranks (the model's code changed). The message says which."""


class SBCInterrupted(RuntimeError):
    """``burden validate sbc`` was stopped (Ctrl-C, SIGTERM) before its last fit.
    ``fitted``: the fits done; ``checkpoint``: how many first simulations the output
    folder's tables now hold (``--resume`` goes on from them), or None when nothing was
    written (no output folder, a finished run's folder that a new run may not overwrite,
    or no first simulation done yet); ``out``: that folder."""

    def __init__(self, message: str, *, fitted: int, checkpoint: int | None,
                 out: object = None) -> None:
        super().__init__(message)
        self.fitted, self.checkpoint, self.out = fitted, checkpoint, out


class SBCSchedulerError(RuntimeError):
    """``burden validate sbc --scheduler ADDRESS``: the address is not a Dask scheduler
    address (``tcp://host:port``), no scheduler answered there within Dask's connect
    timeout (``distributed.comm.timeouts.connect``, 30 s by default), or the connection
    failed otherwise (TLS without its certificates). Checked before any world is drawn;
    the message names the address, and how to start a cluster where none answered."""


class SBCWorldsError(ValueError):
    """``burden validate sbc --worlds``: an unknown choice, a model without a plausibility
    rule, or a rule that accepts too few of the prior worlds drawn."""


class SBCPriorSamplerError(RuntimeError):
    """``burden validate sbc``: the prior sampler's random generators cannot be put in the
    order PyMC seeds them (``sbc.PriorSampler``; another PyMC version seeding them in
    another way), so the run cannot draw the worlds of ``pm.sample_prior_predictive`` that
    every recorded run was drawn with. Nothing is drawn."""


class SBCPriorDrawError(ValueError):
    """``burden validate sbc``: the model's own generative graph could not draw any of the
    first ``sbc.DRAWABLE_WITHIN`` (200) prior worlds, or any world of a shorter run (a
    model that cannot draw its prior; a single world far in the prior's tails whose counts
    are too large to draw is a failed simulation instead, ``sbc.prior_worlds``). The
    message names the model, the number of worlds, the seed and the first error."""
