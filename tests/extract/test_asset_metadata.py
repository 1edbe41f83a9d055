"""The landed_prices asset's metadata stays readable for a market-wide universe: counts and a
few names in the UI, every ticker in the run's report file."""

from __future__ import annotations

import json
from pathlib import Path

from orchestration.extract.assets import extraction_summary, report_metadata
from orchestration.extract.prices import ExtractionReport
from orchestration.extract.universe import Company


def market_report(tickers: int, failed: int) -> ExtractionReport:
    names = [f"T{i:05d}" for i in range(tickers)]
    return ExtractionReport(
        run_id="r",
        requested_source="csv",
        source="csv",
        universe=[Company(name, name, "other") for name in names],
        source_by_ticker=dict.fromkeys(names, "csv"),
        rows_landed_by_ticker={name: i + 1 for i, name in enumerate(names)},
        failed={f"BAD{i}": "no data rows" for i in range(failed)},
    )


def test_thousands_of_tickers_are_counted_and_sampled(tmp_path: Path) -> None:
    report = market_report(tickers=3000, failed=45)
    metadata = report_metadata(report, tmp_path / "r.extraction.json")
    (by_source,) = metadata["tickers_by_source"].value.records
    assert by_source.data["tickers"] == 3000
    assert by_source.data["examples"].endswith("T00009 ... and 2990 more")
    largest = metadata["largest_landings"].value.records
    assert len(largest) == 20
    assert largest[0].data == {"ticker": "T02999", "rows": 3000}
    assert len(metadata["failed_tickers"].value.records) == 20
    assert metadata["failed_count"].value == 45
    assert metadata["tickers_landed"].value == 3000
    # The whole lists stay in the report the CLI reads (and --verbose prints).
    summary = json.loads(json.dumps(extraction_summary(report), default=str))
    assert len(summary["source_by_ticker"]) == 3000
    assert len(summary["failed_tickers"]) == 45


def test_no_failure_means_no_empty_table(tmp_path: Path) -> None:
    metadata = report_metadata(market_report(tickers=3, failed=0), tmp_path / "r.json")
    assert "failed_tickers" not in metadata
    assert metadata["failed_count"].value == 0
