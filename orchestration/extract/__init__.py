"""Extraction: price sources, the immutable landing zone and the Dagster assets that drive them."""
