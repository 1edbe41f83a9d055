"""Reporting: the pivot-index chart and the static dashboard, rendered from the marts."""
