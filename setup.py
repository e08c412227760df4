"""Builds the one native helper (otelflow.native._wire); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("otelflow.native._wire", ["src/otelflow/native/_wire.c"], extra_compile_args=["-O2"], optional=True),
    ]
)
