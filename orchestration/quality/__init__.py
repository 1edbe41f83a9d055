"""The quality gate: Great Expectations suites run as Dagster asset checks, the price batch
audit (accept, quarantine or block), and the atomic publish of validated marts."""
