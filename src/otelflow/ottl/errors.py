"""OTTL's two kinds of error: refused at config load, or raised while a statement runs."""

from __future__ import annotations


class OttlConfigError(ValueError):
    """A statement or condition that cannot be parsed or compiled (a config error)."""


class OttlError(Exception):
    """A statement that failed while running; ``error_mode`` decides what happens next."""


class OttlTypeError(OttlError):
    """A typed getter got a value of another type (upstream's ottl.TypeError)."""
