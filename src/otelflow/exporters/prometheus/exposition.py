"""Prometheus text (0.0.4) and OpenMetrics (1.0.0) exposition, byte for byte as the Go client
(client_golang v1.24 / prometheus/common v0.71) writes them, plus its content negotiation.

The families are ``prometheus_client`` ``Metric`` objects (a counter family is named without the
``_total`` its samples carry, as in ``prometheus_client``); histogram bucket and ``_count`` samples
and summary ``_count`` samples hold ints (written as integers), everything else floats; labels are
already in their output order; timestamps are ``prometheus_client.samples.Timestamp`` values with
millisecond precision.

Why not ``prometheus_client.exposition``: its float formatting (``42.0`` in the text format), its
counter naming, its ``_created`` samples and its escaping differ from what upstream's exporter
serves, and Prometheus users diff the two. Families are still plain ``prometheus_client`` objects,
so any of its tools (the parsers, a ``CollectorRegistry``) work on them.
"""

from __future__ import annotations

import math
from typing import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from otelflow.pdata.govalue import format_float_g as go_float  # strconv.FormatFloat(f, 'g', -1, 64)
from otelflow.pdata.prometheus_names import escape_underscores

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_1 = "application/openmetrics-text; version=1.0.0; charset=utf-8"
OPENMETRICS_0 = "application/openmetrics-text; version=0.0.1; charset=utf-8"
ESCAPING = "; escaping=underscores"


# ---------------------------------------------------------------------------------------------
# Numbers


def om_float(f: float) -> str:
    """OpenMetrics floats: Go's %g plus ".0" when neither "." nor "e" is in it."""
    if f == 1:
        return "1.0"
    if f == 0:
        return "0.0"
    if f == -1:
        return "-1.0"
    s = go_float(f)
    if s in ("NaN", "+Inf", "-Inf") or "e" in s or "." in s:
        return s
    return s + ".0"


# ---------------------------------------------------------------------------------------------
# Strings


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str], om: bool, extra: tuple[str, float] | None = None) -> str:
    parts = [f'{escape_underscores(k)}="{_escape_quoted(v)}"' for k, v in labels.items()]
    if extra is not None:
        name, value = extra
        parts.append(f'{name}="{om_float(value) if om else go_float(value)}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def exposed_name(family: Metric) -> str:
    """The name the Go client gives a family: a counter's is its samples' name (``x_total``)."""
    if family.type == "counter" and family.samples:
        return family.samples[0].name
    return family.name


def _is_int_sample(family: Metric, sample: Sample) -> bool:
    if family.type == "histogram":
        return sample.name.endswith("_bucket") or sample.name.endswith("_count")
    if family.type == "summary":
        return sample.name.endswith("_count")
    return False


def _value(family: Metric, sample: Sample, om: bool) -> str:
    if _is_int_sample(family, sample):
        return str(int(sample.value))
    return om_float(float(sample.value)) if om else go_float(float(sample.value))


def _timestamp_ms(sample: Sample) -> int | None:
    ts = sample.timestamp
    if ts is None:
        return None
    if hasattr(ts, "sec"):
        return ts.sec * 1000 + ts.nsec // 1_000_000
    return int(math.floor(float(ts) * 1000))


def _split_extra(family: Metric, sample: Sample) -> tuple[dict[str, str], tuple[str, float] | None]:
    """Pull ``le``/``quantile`` out of the labels: the Go writers format them as floats."""
    key = {"histogram": "le", "summary": "quantile"}.get(family.type)
    if key and key in sample.labels:
        labels = dict(sample.labels)
        raw = labels.pop(key)
        return labels, (key, float(raw))
    return sample.labels, None


# ---------------------------------------------------------------------------------------------
# Writers


def text(families: Iterable[Metric]) -> str:
    """The Prometheus text format 0.0.4."""
    out: list[str] = []
    for family in families:
        name = escape_underscores(exposed_name(family))
        typ = "untyped" if family.type == "unknown" else family.type
        out.append(f"# HELP {name} {_escape_help(family.documentation)}\n")
        out.append(f"# TYPE {name} {typ}\n")
        for sample in family.samples:
            labels, extra = _split_extra(family, sample)
            line = escape_underscores(sample.name) + _labels(labels, False, extra) + " " + _value(family, sample, False)
            ms = _timestamp_ms(sample)
            if ms is not None:
                line += f" {ms}"
            out.append(line + "\n")
    return "".join(out)


def openmetrics(families: Iterable[Metric]) -> str:
    """OpenMetrics 1.0.0 text, with exemplars on counters and histogram buckets."""
    out: list[str] = []
    for family in families:
        name = escape_underscores(exposed_name(family))
        typ = family.type
        sample_prefix = name
        if typ == "counter":
            if name.endswith("_total"):
                name = name[: -len("_total")]
            else:
                typ = "unknown"
        out.append(f"# HELP {name} {_escape_quoted(family.documentation)}\n")
        out.append(f"# TYPE {name} {typ}\n")
        for sample in family.samples:
            labels, extra = _split_extra(family, sample)
            sname = escape_underscores(sample.name) if family.type != "counter" else sample_prefix
            line = sname + _labels(labels, True, extra) + " " + _value(family, sample, True)
            ms = _timestamp_ms(sample)
            if ms is not None:
                line += " " + om_float(ms / 1000)
            ex = sample.exemplar
            if ex is not None and ex.labels:
                line += " # " + _labels(ex.labels, True) + " " + om_float(float(ex.value))
                if ex.timestamp is not None:
                    ts = ex.timestamp
                    seconds = (ts.sec * 1_000_000_000 + ts.nsec) / 1e9 if hasattr(ts, "sec") else float(ts)
                    line += " " + om_float(seconds)
            out.append(line + "\n")
    out.append("# EOF\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Content negotiation (expfmt.NegotiateAccept without the protobuf formats, which we do not serve)


def _parse_accept(header: str) -> list[tuple[str, str, dict[str, str]]]:
    clauses = []
    for raw in header.split(","):
        parts = [p.strip() for p in raw.split(";")]
        if not parts[0]:
            continue
        mtype, _, subtype = parts[0].partition("/")
        params: dict[str, str] = {}
        q = 1.0
        for p in parts[1:]:
            key, sep, value = p.partition("=")
            if not sep:
                continue
            key, value = key.strip(), value.strip()
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            else:
                params[key] = value
        clauses.append((q, mtype.strip(), subtype.strip() or "*", params))
    # goautoneg: by q descending, then concrete types before wildcards (stable otherwise)
    clauses.sort(key=lambda c: (-c[0], c[1] == "*", c[2] == "*"))
    return [(t, s, p) for _, t, s, p in clauses]


def negotiate(accept: str | None, openmetrics_enabled: bool) -> str:
    """The Content-Type to answer with for a request's Accept header."""
    offers = []
    if openmetrics_enabled:
        offers += [("application", "openmetrics-text", "1.0.0", OPENMETRICS_1), ("application", "openmetrics-text", "0.0.1", OPENMETRICS_0)]
    offers.append(("text", "plain", "0.0.4", TEXT))
    for mtype, subtype, params in _parse_accept(accept or ""):
        version = params.get("version", "")
        if not version and (mtype, subtype) == ("application", "openmetrics-text"):
            version = "0.0.1"
        if not version and (mtype, subtype) == ("text", "plain"):
            version = "0.0.4"
        for otype, osub, over, ctype in offers:
            if mtype != "*" and mtype != otype:
                continue
            if subtype != "*" and subtype != osub:
                continue
            if version != over:  # as expfmt: a missing version only defaults for these two types
                continue
            return ctype + ESCAPING
    return TEXT + ESCAPING


def render(families: list[Metric], content_type: str) -> bytes:
    if content_type.startswith("application/openmetrics-text"):
        return openmetrics(families).encode()
    return text(families).encode()
