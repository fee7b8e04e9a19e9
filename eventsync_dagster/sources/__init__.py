"""Vendor sources as plain dlt code: they run without Dagster."""
