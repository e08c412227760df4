"""Shared parser pieces: timestamp, severity, trace, scope name, and the parser base."""
