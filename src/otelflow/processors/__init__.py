"""Processors: per-pipeline steps between receivers and exporters."""
