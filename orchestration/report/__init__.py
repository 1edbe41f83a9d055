"""Reporting: charts rendered from the marts."""
