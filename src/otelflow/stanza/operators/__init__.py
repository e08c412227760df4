"""Stanza operator packages (parsers here, transformers beside them)."""
