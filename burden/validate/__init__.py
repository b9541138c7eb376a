"""Validation runs kept apart from the report path: back-tests (``backtest``)."""
