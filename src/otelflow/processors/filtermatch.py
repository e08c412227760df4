"""``include`` / ``exclude`` matching of the attributes processor, as upstream's legacy filters
(internal/filter: filterconfig, filterset strict/regexp, filtermatcher, filterspan, filterlog,
filtermetric) in v0.161.0, with their validation messages.

An item (span, log record, metric) is skipped when ``include`` is set and does not match it, or
when ``exclude`` is set and matches it. Within one set of properties every given property must
match: the service name (``service.name`` of the resource, ``<nil-service-name>`` when absent),
the span name, the span kind, the log body (as text), the severity text and number, every library
entry (name, and version when given), every resource attribute and every item attribute.

For metrics upstream only looks at ``metric_names``: ``resources`` passes validation but matches
nothing (nor filters anything), and with ``match_type: expr`` no filter is built at all.

Matching is compiled once; the resource and scope parts are evaluated once per resource and per
scope, not per item.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.pdata.govalue import format_float_f, value_as_string
from otelflow.processors.attraction import (
    DropNulls,
    GoRegexp,
    GoRegexpError,
    as_string,
    canonical,
    type_name,
    value_from_raw,
)

STRICT = "strict"
REGEXP = "regexp"
NIL_SERVICE_NAME = "<nil-service-name>"
SPAN_KIND_NAMES = {
    0: "SPAN_KIND_UNSPECIFIED", 1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER",
}
_STANDARD_KINDS = ("SPAN_KIND_CLIENT", "SPAN_KIND_CONSUMER", "SPAN_KIND_INTERNAL", "SPAN_KIND_PRODUCER", "SPAN_KIND_SERVER")
# Upstream builds this list with five empty strings in front (a make() with a length, then
# appends); they show as five blanks after the bracket.
_KINDS_IN_MESSAGE = "[" + " ".join(["", "", "", "", "", *_STANDARD_KINDS]) + "]"

ERR_MISSING_SPAN_FIELD = 'at least one of "attributes", "libraries",  or "resources" field must be specified'
ERR_INVALID_LOG_FIELD = "services, span_names, span_kinds and metric_names are not valid for log records"
ERR_MISSING_LOG_FIELD = ('at least one of "attributes", "libraries", "span_kinds", "resources", "log_bodies", '
                         '"log_severity_texts" or "log_severity_number" field must be specified')
ERR_MISSING_METRIC_FIELD = 'at least one of "metric_names" or "resources" field must be specified'
ERR_INVALID_METRIC_FIELD = ('"span_names", "span_kinds", "log_bodies", "log_severity_texts", "log_severity_number", '
                            '"services", "attributes" and "libraries" are not valid for metrics')


# ---------------------------------------------------------------------------------------------
# Config


class RegexpConfig(DropNulls):
    cacheenabled: bool = False
    cachemaxnumentries: int = 0


class AttributeConfig(DropNulls):
    key: str = ""
    value: Any = None


class LibraryConfig(DropNulls):
    name: str = ""
    # None: any version; "" matches only an empty version.
    version: str | None = None


class SeverityNumberConfig(DropNulls):
    min: int = 0
    match_undefined: bool = False


class MatchProperties(DropNulls):
    match_type: str = ""
    regexp: RegexpConfig | None = None
    services: list[str] = []
    span_names: list[str] = []
    log_bodies: list[str] = []
    log_severity_texts: list[str] = []
    log_severity_number: SeverityNumberConfig | None = None
    metric_names: list[str] = []
    attributes: list[AttributeConfig] = []
    resources: list[AttributeConfig] = []
    libraries: list[LibraryConfig] = []
    span_kinds: list[str] = []


# ---------------------------------------------------------------------------------------------
# Filter sets


class StrictSet:
    __slots__ = ("items",)

    def __init__(self, items: list[str]):
        self.items = frozenset(items)

    def matches(self, text: str) -> bool:
        return text in self.items


class RegexpSet:
    """Unanchored search with each pattern (Go's MatchString); optionally an LRU cache of results."""

    __slots__ = ("searches", "cache", "limit")

    def __init__(self, patterns: list[str], cfg: RegexpConfig | None):
        seen: set[str] = set()
        self.searches: list[Callable] = []
        for p in patterns:
            if p in seen:
                continue
            self.searches.append(GoRegexp(p).search)
            seen.add(p)
        self.cache: OrderedDict[str, bool] | None = None
        self.limit = 0
        if cfg is not None and cfg.cacheenabled:
            if cfg.cachemaxnumentries < 0:
                raise ValueError("must provide a positive size")
            self.cache = OrderedDict()
            self.limit = cfg.cachemaxnumentries

    def _match(self, text: str) -> bool:
        for search in self.searches:
            if search(text) is not None:
                return True
        return False

    def matches(self, text: str) -> bool:
        cache = self.cache
        if cache is None:
            return self._match(text)
        hit = cache.get(text)
        if hit is not None:
            cache.move_to_end(text)
            return hit
        result = self._match(text)
        cache[text] = result
        if self.limit and len(cache) > self.limit:
            cache.popitem(last=False)
        return result


def unrecognized_match_type(match_type: str) -> str:
    return f"unrecognized match_type: '{match_type}', valid types are: [regexp strict]"


def create_filterset(patterns: list[str], match_type: str, regexp: RegexpConfig | None):
    if match_type == REGEXP:
        try:
            return RegexpSet(patterns, regexp)
        except GoRegexpError as exc:
            raise ValueError(str(exc)) from None
    if match_type == STRICT:
        return StrictSet(patterns)
    raise ValueError(unrecognized_match_type(match_type))


# ---------------------------------------------------------------------------------------------
# Attribute matching (filtermatcher)


def attribute_text(value: AnyValue) -> str | None:
    """What a regexp attribute matcher sees: str, bool, int and double as text; others none."""
    kind = value.WhichOneof("value")
    if kind == "double_value":
        return format_float_f(value.double_value)  # 'f' format here, not AsString's
    if kind in ("string_value", "bool_value", "int_value"):
        return value_as_string(value)
    return None


class AttributeMatcher:
    __slots__ = ("key", "kind", "expected", "filter")

    def __init__(self, key: str, kind: str | None, expected: tuple | None, filter_: Any):
        self.key = key
        self.kind = kind          # oneof name the value must have (strict)
        self.expected = expected  # canonical form of the value (strict)
        self.filter = filter_     # filter set on the value as text (regexp)


def attributes_matcher(cfg: MatchProperties, entries: list[AttributeConfig]) -> list[AttributeMatcher]:
    out = []
    for entry in entries:
        if entry.key == "":
            raise ValueError("can't have empty key in the list of attributes")
        if entry.value is None:
            out.append(AttributeMatcher(entry.key, None, None, None))
            continue
        value = value_from_raw(entry.value)
        if cfg.match_type == REGEXP:
            if value.WhichOneof("value") != "string_value":
                raise ValueError(f'match_type=regexp for "{entry.key}" only supports Str, but found {type_name(value)}')
            out.append(AttributeMatcher(entry.key, None, None, create_filterset([value.string_value], REGEXP, cfg.regexp)))
        elif cfg.match_type == STRICT:
            out.append(AttributeMatcher(entry.key, value.WhichOneof("value"), canonical(value), None))
        else:
            raise ValueError(unrecognized_match_type(cfg.match_type))
    return out


def match_attributes(matchers: list[AttributeMatcher], attrs) -> bool:
    if not matchers:
        return True
    if len(attrs) == 0:
        return False
    for m in matchers:
        found = None
        for kv in attrs:
            if kv.key == m.key:
                found = kv.value
                break
        if found is None:
            return False
        if m.filter is not None:
            text = attribute_text(found)
            if text is None or not m.filter.matches(text):
                return False
        elif m.expected is not None:
            if found.WhichOneof("value") != m.kind or canonical(found) != m.expected:
                return False
    return True


# ---------------------------------------------------------------------------------------------
# Span and log properties


class Properties:
    """One compiled ``include`` or ``exclude`` for spans or logs."""

    __slots__ = ("libraries", "attributes", "resources", "services", "names", "kinds", "bodies",
                 "severity_texts", "severity")

    def __init__(self):
        self.libraries: list[tuple[Any, Any]] = []
        self.attributes: list[AttributeMatcher] = []
        self.resources: list[AttributeMatcher] | None = None
        self.services = self.names = self.kinds = self.bodies = self.severity_texts = None
        self.severity: tuple[int, bool] | None = None

    def resource_ok(self, resource) -> bool:
        if self.services is not None:
            service = None
            for kv in resource.attributes:
                if kv.key == "service.name":
                    service = as_string(kv.value)
                    break
            if not self.services.matches(NIL_SERVICE_NAME if service is None else service):
                return False
        return self.resources is None or match_attributes(self.resources, resource.attributes)

    def scope_ok(self, scope) -> bool:
        for name, version in self.libraries:
            if not name.matches(scope.name):
                return False
            if version is not None and not version.matches(scope.version):
                return False
        return True

    def span_ok(self, span) -> bool:
        if self.names is not None and not self.names.matches(span.name):
            return False
        if self.kinds is not None and not self.kinds.matches(SPAN_KIND_NAMES.get(span.kind, "")):
            return False
        return match_attributes(self.attributes, span.attributes)

    def log_ok(self, record) -> bool:
        if self.bodies is not None and not self.bodies.matches(as_string(record.body)):
            return False
        if self.severity_texts is not None and not self.severity_texts.matches(record.severity_text):
            return False
        if self.severity is not None:
            minimum, undefined = self.severity
            number = record.severity_number
            if number == 0:
                if not undefined:
                    return False
            elif number < minimum:
                return False
        return match_attributes(self.attributes, record.attributes)


def _common(mp: MatchProperties) -> Properties:
    """filtermatcher.NewMatcher: libraries, then attributes, then resources."""
    props = Properties()
    for lib in mp.libraries:
        try:
            name = create_filterset([lib.name], mp.match_type, mp.regexp)
        except ValueError as exc:
            raise ValueError(f"error creating library name filters: {exc}") from None
        version = None
        if lib.version is not None:
            try:
                version = create_filterset([lib.version], mp.match_type, mp.regexp)
            except ValueError as exc:
                raise ValueError(f"error creating library version filters: {exc}") from None
        props.libraries.append((name, version))
    if mp.attributes:
        try:
            props.attributes = attributes_matcher(mp, mp.attributes)
        except ValueError as exc:
            raise ValueError(f"error creating attribute filters: {exc}") from None
    if mp.resources:
        try:
            props.resources = attributes_matcher(mp, mp.resources)
        except ValueError as exc:
            raise ValueError(f"error creating resource filters: {exc}") from None
    return props


def _filterset(items: list[str], mp: MatchProperties, what: str):
    if not items:
        return None
    try:
        return create_filterset(items, mp.match_type, mp.regexp)
    except ValueError as exc:
        raise ValueError(f"error creating {what} filters: {exc}") from None


def validate_for_spans(mp: MatchProperties) -> None:
    if mp.log_bodies:
        raise ValueError("log_bodies should not be specified for trace spans")
    if mp.log_severity_texts:
        raise ValueError("log_severity_texts should not be specified for trace spans")
    if mp.log_severity_number is not None:
        raise ValueError("log_severity_number should not be specified for trace spans")
    if mp.metric_names:
        raise ValueError("metric_names should not be specified for trace spans")
    if not (mp.services or mp.span_names or mp.attributes or mp.libraries or mp.resources or mp.span_kinds):
        raise ValueError(ERR_MISSING_SPAN_FIELD)
    if mp.span_kinds and mp.match_type == STRICT:
        if any(kind not in _STANDARD_KINDS for kind in mp.span_kinds):
            raise ValueError(f"span_kinds string must match one of the standard span kinds when match_type=strict: {_KINDS_IN_MESSAGE}")


def validate_for_logs(mp: MatchProperties) -> None:
    if mp.span_names or mp.services or mp.span_kinds or mp.metric_names:
        raise ValueError(ERR_INVALID_LOG_FIELD)
    if not (mp.attributes or mp.libraries or mp.resources or mp.log_bodies or mp.log_severity_texts
            or mp.log_severity_number is not None or mp.span_kinds):
        raise ValueError(ERR_MISSING_LOG_FIELD)


def validate_for_metrics(mp: MatchProperties) -> None:
    if (mp.log_bodies or mp.log_severity_texts or mp.span_names or mp.services or mp.span_kinds
            or mp.attributes or mp.libraries or mp.log_severity_number is not None):
        raise ValueError(ERR_INVALID_METRIC_FIELD)
    if not (mp.metric_names or mp.resources):
        raise ValueError(ERR_MISSING_METRIC_FIELD)


def span_properties(mp: MatchProperties | None) -> Properties | None:
    if mp is None:
        return None
    validate_for_spans(mp)
    props = _common(mp)
    props.services = _filterset(mp.services, mp, "service name")
    props.names = _filterset(mp.span_names, mp, "span name")
    props.kinds = _filterset(mp.span_kinds, mp, "span kind")
    return props


def log_properties(mp: MatchProperties | None) -> Properties | None:
    if mp is None:
        return None
    validate_for_logs(mp)
    props = _common(mp)
    props.bodies = _filterset(mp.log_bodies, mp, "log record body")
    props.severity_texts = _filterset(mp.log_severity_texts, mp, "log record severity text")
    if mp.log_severity_number is not None:
        props.severity = (mp.log_severity_number.min, mp.log_severity_number.match_undefined)
    return props


def metric_names_filter(mp: MatchProperties | None):
    """filtermetric: the metric-name filter set, or None when this side filters nothing."""
    if mp is None:
        return None
    validate_for_metrics(mp)
    if mp.match_type == "expr" or not mp.metric_names:
        return None
    return create_filterset(mp.metric_names, mp.match_type, mp.regexp)


class Skip:
    """Whether to leave an item alone: include (if any) must match, exclude (if any) must not.

    Use as: ``r = skip.resource(res)`` once per resource, ``s = skip.scope(r, scope)`` once per
    scope, then ``skip.span(s, span)`` / ``skip.log(s, record)`` per item.
    """

    __slots__ = ("include", "exclude")

    def __init__(self, include: Properties | None, exclude: Properties | None):
        self.include = include
        self.exclude = exclude

    def resource(self, resource) -> tuple[bool, bool]:
        inc = self.include.resource_ok(resource) if self.include is not None else True
        exc = self.exclude.resource_ok(resource) if self.exclude is not None else False
        return inc, exc

    def scope(self, res_state: tuple[bool, bool], scope) -> tuple[bool, bool]:
        inc, exc = res_state
        if self.include is not None and inc:
            inc = self.include.scope_ok(scope)
        if self.exclude is not None and exc:
            exc = self.exclude.scope_ok(scope)
        return inc, exc

    def span(self, state: tuple[bool, bool], span) -> bool:
        inc, exc = state
        if self.include is not None and not (inc and self.include.span_ok(span)):
            return True
        return self.exclude is not None and exc and self.exclude.span_ok(span)

    def log(self, state: tuple[bool, bool], record) -> bool:
        inc, exc = state
        if self.include is not None and not (inc and self.include.log_ok(record)):
            return True
        return self.exclude is not None and exc and self.exclude.log_ok(record)


def span_skip(include: MatchProperties | None, exclude: MatchProperties | None) -> Skip | None:
    inc = span_properties(include)
    exc = span_properties(exclude)
    return Skip(inc, exc) if inc is not None or exc is not None else None


def log_skip(include: MatchProperties | None, exclude: MatchProperties | None) -> Skip | None:
    inc = log_properties(include)
    exc = log_properties(exclude)
    return Skip(inc, exc) if inc is not None or exc is not None else None


class MetricSkip:
    __slots__ = ("include", "exclude")

    def __init__(self, include, exclude):
        self.include = include
        self.exclude = exclude

    def metric(self, metric) -> bool:
        if self.include is not None and not self.include.matches(metric.name):
            return True
        return self.exclude is not None and self.exclude.matches(metric.name)


def metric_skip(include: MatchProperties | None, exclude: MatchProperties | None) -> MetricSkip | None:
    # Upstream validates both sides before building either filter.
    if include is not None:
        validate_for_metrics(include)
    if exclude is not None:
        validate_for_metrics(exclude)
    inc = metric_names_filter(include)
    exc = metric_names_filter(exclude)
    return MetricSkip(inc, exc) if inc is not None or exc is not None else None
