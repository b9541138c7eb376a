"""The data sources behind the report: registry files, packaged reference tables and
the publications quoted in them, with citations and licences."""

from __future__ import annotations

from burden.registry.sources import SOURCES
from burden.report.inputs import ReportInputs


def source_rows(inp: ReportInputs) -> list[dict]:
    """Sources feeding the report: registry files and packaged reference tables (all of
    them when no processed tables are given), with citation and licence."""
    from burden.registry.published import REFERENCE_SOURCES

    known = {**SOURCES, **REFERENCE_SOURCES}
    used = set()
    for table in inp.tables.values():
        if "source" in table:
            used.update(table["source"].dropna().astype(str))
    ids = [s for s in known if s in used] if used else list(known)
    rows = []
    for sid in ids:
        src = known[sid]
        page = getattr(src, "publisher_page", "") or src.url
        rows.append({"id": sid, "title": src.title, "publisher": src.publisher,
                     "citation": src.citation, "licence": src.licence, "page": page,
                     "link": page.startswith(("http://", "https://"))})
    return rows


def reference_rows(inp: ReportInputs) -> list[dict]:
    """Publications quoted in the curated reference tables, with their row counts."""
    out = []
    for name in ("production_measurements", "signature_shares"):
        table = inp.tables.get(name)
        if table is None or table.empty:
            continue
        cols = [c for c in ("publisher", "publication", "url") if c in table]
        grouped = (table.assign(url=table["url"].fillna("") if "url" in table else "",
                                verified=table["verified"].astype(bool))
                   .groupby(["publication"], sort=True)
                   .agg(url=("url", "first"), rows=("verified", "size"),
                        verified=("verified", "sum")).reset_index())
        for _, r in grouped.iterrows():
            out.append({"table": name, "publication": r["publication"], "url": r["url"],
                        "rows": int(r["rows"]), "unverified": int(r["rows"] - r["verified"]),
                        "publisher": (table.loc[table["publication"] == r["publication"],
                                                "publisher"].iloc[0]
                                      if "publisher" in cols else "DEA")})
    return out
