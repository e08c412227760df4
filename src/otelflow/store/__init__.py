"""The embedded store behind the all-in-one ``otelflow``: DuckDB tables of spans, logs and metric points."""
