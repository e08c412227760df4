"""docs/ottl.md lists every function the engine has, and every one it refuses, by name."""

from __future__ import annotations

import re
from pathlib import Path

from otelflow.ottl.funcs import NOT_SUPPORTED, STANDARD

DOC = Path(__file__).resolve().parents[2] / "docs" / "ottl.md"


def _section(text: str, start: str) -> str:
    return text[text.index(start):].split("\n\n")[0]


def test_every_function_is_documented_where_it_belongs():
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Za-z_0-9]+)`", text))
    missing = sorted(n for n in STANDARD if n not in named)
    assert not missing, f"docs/ottl.md does not name {missing}"
    refused = set(re.findall(r"`([A-Z][A-Za-z_0-9]+)`", _section(text, "Not supported yet"))) - {"ParseCEF"}
    assert refused == set(NOT_SUPPORTED), "docs/ottl.md's 'Not supported yet' list is out of date"
