"""Exporters: where data leaves the collector. Each owns its queue and retries (see exporterhelper)."""
