"""What every batch shares: drop marks applied when the plugin returns, and the copy that lets a
failed plugin leave the request as it came (error_mode ignore/silent)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from .views import Metric


class Batch:
    """The request being processed (``TracesBatch``, ``MetricsBatch``, ``LogsBatch`` in ``api``)."""

    def __init__(self, request: "Message", keep_original: bool = False):
        self._request = request
        self._drops: dict[int, tuple[Any, set[int]]] = {}
        self._point_drops: dict[int, tuple[Any, set[int], "Metric"]] = {}
        self._original: bytes | None = None
        self.touch = self._snapshot if keep_original else _nothing

    def _snapshot(self) -> None:
        self._original = self._request.SerializeToString()
        self.touch = _nothing

    @property
    def proto(self) -> Any:
        """The export request message itself (counted as a change: it may be edited)."""
        self.touch()
        return self._request

    def _drop(self, container: Any, index: int) -> None:
        entry = self._drops.get(id(container))
        if entry is None:
            self._drops[id(container)] = (container, {index})
        else:
            entry[1].add(index)

    def _rollback(self) -> None:
        """Put the request back as it arrived (after the plugin raised)."""
        if self._original is not None:
            self._request.Clear()
            self._request.MergeFromString(self._original)

    def _apply_drops(self) -> bool:
        """Remove what was dropped, then the metrics, scopes and resources left empty by it;
        whether anything was dropped."""
        if not self._drops and not self._point_drops:
            return False
        for points, indices, metric in self._point_drops.values():
            _delete(points, indices)
            if not len(points):
                metric.drop()
        for container, indices in self._drops.values():
            _delete(container, indices)
        resources = self._resources_field()
        for r in range(len(resources) - 1, -1, -1):
            scopes = getattr(resources[r], self._scopes_name)
            for s in range(len(scopes) - 1, -1, -1):
                if not len(getattr(scopes[s], self._items_name)):
                    del scopes[s]
            if not len(scopes):
                del resources[r]
        return True

    _scopes_name = ""
    _items_name = ""

    def _resources_field(self) -> Any:
        raise NotImplementedError

    def is_empty(self) -> bool:
        return not len(self._resources_field())


def _nothing() -> None:
    return None


def _delete(container: Any, indices: set[int]) -> None:
    if len(indices) == len(container):
        del container[:]
        return
    for i in sorted(indices, reverse=True):
        del container[i]
