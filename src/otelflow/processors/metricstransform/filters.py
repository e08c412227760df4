"""Which metrics and data points a transform selects: ``include`` by name (strict, or a regexp
searched anywhere in the name as Go's), ``experimental_match_labels`` on point attributes, and
the ``new_name`` template expansion of Go's ``Regexp.ExpandString``."""

from __future__ import annotations

import re
from typing import Callable

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from otelflow.processors.metricstransform.pdata import copy_details, find, points, str_of


class Filter:
    def __init__(self, include: str, match_type: str, match_labels: dict[str, str]):
        self.include = include
        self.regexp = re.compile(include) if match_type == "regexp" else None
        compile_value: Callable[[str], Callable[[str], bool]]
        if self.regexp is not None:
            compile_value = lambda v: re.compile(v).search  # noqa: E731
        else:
            compile_value = lambda v: v.__eq__  # noqa: E731
        self.matchers = [(k, compile_value(v)) for k, v in match_labels.items()]

    def name_matches(self, name: str) -> bool:
        return self.regexp.search(name) is not None if self.regexp is not None else name == self.include

    def match_attrs(self, attrs) -> bool:
        for key, matches in self.matchers:
            kv = find(attrs, key)
            if not matches(str_of(kv.value) if kv is not None else ""):
                return False
        return True

    def _point_matches(self, metric: Metric) -> list[bool]:
        dps = points(metric)
        return [self.match_attrs(dp.attributes) for dp in dps] if dps is not None else []

    def match_metric(self, metric: Metric) -> bool:
        """Name matches and some point matches (a metric without points matches, as upstream)."""
        if not self.name_matches(metric.name):
            return False
        dps = points(metric)
        if not self.matchers or not dps:
            return True
        return any(self.match_attrs(dp.attributes) for dp in dps)

    def match_all(self, metric: Metric) -> bool:
        if not self.matchers:
            return True
        return all(self._point_matches(metric))

    def extract(self, metric: Metric) -> Metric | None:
        """``metric`` itself when all its points match, a new metric with the matching points when
        some do, None when its name or none of its points match."""
        if not self.name_matches(metric.name):
            return None
        if not self.matchers:
            return metric
        matched = self._point_matches(metric)
        if all(matched):
            return metric
        if not any(matched):
            return None
        out = Metric()
        copy_details(metric, out)
        src, dst = points(metric), points(out)
        for dp, keep in zip(src, matched):
            if keep:
                dst.add().CopyFrom(dp)
        return out

    def submatches(self, name: str) -> list[str | None]:
        """The capture groups of the include regexp in ``name`` (none for strict)."""
        if self.regexp is None:
            return []
        m = self.regexp.search(name)
        return list(m.groups()) if m else []

    def group_names(self) -> list[str]:
        """Attribute names for the capture groups: the group's name, or ``$i``."""
        if self.regexp is None:
            return []
        names = {i: n for n, i in self.regexp.groupindex.items()}
        return [names.get(i, f"${i}") for i in range(1, self.regexp.groups + 1)]

    def expand(self, template: str, name: str) -> str:
        if self.regexp is None:
            return ""
        m = self.regexp.search(name)
        return _expand(template, m) if m else ""


_NAME = re.compile(r"\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)")


def _expand(template: str, m: re.Match) -> str:
    """Go's Regexp.Expand: ``$1``, ``$name``, ``${name}``, ``$$``; an unknown group is empty, a ``$``
    not followed by a name stays as it is."""
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if template.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        g = _NAME.match(template, i + 1)
        if g is None:
            out.append("$")
            i += 1
            continue
        ref = g.group(1) or g.group(2)
        i = g.end()
        try:
            value = m.group(int(ref)) if ref.isdigit() else m.group(ref)
        except IndexError:  # no such group
            value = None
        out.append(value or "")
    return "".join(out)

