"""OTTL's standard function library (upstream pkg/ottl/ottlfuncs at v0.161.0).

``STANDARD`` holds every editor and converter ported; ``NOT_SUPPORTED`` names each upstream
function left out and why, so a config using one fails with a clear message.
"""

from __future__ import annotations

from ..functions import FunctionDef, combine

NOT_SUPPORTED: dict[str, str] = {}


def _tables() -> list[dict[str, FunctionDef]]:
    from . import editors, strings, conversions, hashing
    tables = [editors.TABLE, strings.TABLE, conversions.TABLE, hashing.TABLE]
    for name in ("parsing", "timefuncs", "structured", "xmlfuncs", "grok", "collections", "xml", "lambdas"):
        try:
            mod = __import__(f"{__name__}.{name}", fromlist=["TABLE"])
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            continue
        tables.append(mod.TABLE)
        NOT_SUPPORTED.update(getattr(mod, "NOT_SUPPORTED", {}))
    return tables


STANDARD: dict[str, FunctionDef] = combine(*_tables())

for _name in list(NOT_SUPPORTED):
    if _name in STANDARD:
        del NOT_SUPPORTED[_name]

__all__ = ["STANDARD", "NOT_SUPPORTED"]
