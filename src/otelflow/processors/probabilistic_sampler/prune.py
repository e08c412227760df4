"""Removing what was not sampled from a request, keeping the order of the rest."""

from __future__ import annotations


# Deleting one by one (from the end) moves the survivors behind each deleted item: cheap for the
# usual request, quadratic for huge ones, where copying the survivors into a fresh list is cheaper.
_REBUILD_ABOVE = 50_000_000


def _keep_only(items, keep: list[bool], kept: int) -> None:
    """Remove the items whose flag is False, keeping the order of the rest."""
    total = len(keep)
    dropped = total - kept
    if dropped * kept > _REBUILD_ABOVE:
        survivors = [item for item, k in zip(items, keep) if k]
        del items[:]
        items.extend(survivors)
        return
    for i in range(total - 1, -1, -1):
        if not keep[i]:
            del items[i]


def _drop_empty(resources, scopes_field: str, items_field: str) -> None:
    """Remove scopes without items and resources without scopes (including those that came empty)."""
    for r_index in range(len(resources) - 1, -1, -1):
        scopes = getattr(resources[r_index], scopes_field)
        for s_index in range(len(scopes) - 1, -1, -1):
            if len(getattr(scopes[s_index], items_field)) == 0:
                del scopes[s_index]
        if len(scopes) == 0:
            del resources[r_index]
