"""Native helpers for the hottest loops, each with a pure-Python fallback of identical behaviour."""
