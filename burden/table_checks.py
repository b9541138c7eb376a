"""Checks of the tables passed between stages, without plotting imports: the interval
columns every summary carries and errors naming a table's missing columns or rows.

Shared by the figure modules (``burden.plots``) and the computations that feed them
(``burden.validate.ppc``, ``burden.draws``), so that computing a result table does not import
matplotlib (``burden summarise`` did, through ``burden.plots``: 0.2-1.0 s of a summary,
``python analysis/steps_ab.py d36cbe6 ce4c872``, 2026-12-02).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

#: the columns of an interval summary: posterior mean and central interval bounds
INTERVAL_COLUMNS = ("mean", "lower", "upper")


def require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ValueError naming the missing columns of ``frame`` (``what`` names the input)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; found {list(frame.columns)}")


def require_rows(frame: pd.DataFrame, what: str) -> None:
    """Raise ValueError when a selection left nothing to draw (a wrong year or name)."""
    if frame.empty:
        raise ValueError(f"{what}: nothing to plot (no rows match the selection)")


def schema_failures(exc: Exception, limit: int = 10) -> str:
    """pandera's lazy ``SchemaErrors`` in one line: the number of failures and the first
    ``limit``, each as column, check, failing value and row."""
    cases = exc.failure_cases.head(limit)
    detail = "; ".join(
        f"column {row.column!r}: {row.check} failed for {row.failure_case!r}"
        + (f" (row {row.index})" if pd.notna(row.index) else "")
        for row in cases.itertuples())
    return f"{len(exc.failure_cases)} failure(s): {detail}"


def validate_table(schema, frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """``schema.validate(frame, lazy=True)``, its failures raised as one ValueError that
    names ``what`` (the table and its file) and each failing column, check and row."""
    import pandera.errors

    try:
        return schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise ValueError(f"{what} does not match its schema ({schema_failures(exc)})") from None
