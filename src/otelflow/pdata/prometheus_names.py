"""OTLP → Prometheus name translation, with the rules upstream's prometheus exporter (v0.161.0,
through prometheus/otlptranslator v1.0.0) applies.

Metric names (with suffixes, the default): the name is split into tokens at every character that is
not ``[a-zA-Z0-9:]``; the unit's main part (``By`` → ``bytes``, ``ms`` → ``milliseconds`` …) and its
``per`` part (``/s`` → ``per_second``) are appended when not already among the tokens (units in
braces, such as ``{request}``, are annotations and add nothing); monotonic sums end in ``_total``
(any other ``total`` token is dropped); gauges of unit ``1`` end in ``_ratio``; the namespace goes
first; a leading digit gets a ``_`` prefix.

Label names: every character outside ``[a-zA-Z0-9]`` becomes ``_`` with runs collapsed (a name of
the form ``__x__`` keeps its double underscores); a leading digit gets ``key_``; a single leading
``_`` gets ``key`` (upstream's default ``pkg.translator.prometheus.PermissiveLabelSanitization`` gate
is off). Names made only of underscores are refused.
"""

from __future__ import annotations

import re

# Metric kinds as the namer sees them.
GAUGE = "gauge"
MONOTONIC_COUNTER = "monotonic_counter"
NON_MONOTONIC_COUNTER = "non_monotonic_counter"
HISTOGRAM = "histogram"
EXPONENTIAL_HISTOGRAM = "exponential_histogram"
SUMMARY = "summary"
UNKNOWN = "unknown"

# OTLP (UCUM-ish) units to Prometheus unit words.
UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

_NOT_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:]")
_NOT_METRIC_CHAR_OR_UNDERSCORE = re.compile(r"[^a-zA-Z0-9:_]+")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]")
_NOT_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9]+")
_UNDERSCORES = re.compile(r"_+")
_LEGACY_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LEGACY_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def unit_suffixes(unit: str) -> tuple[str, str]:
    """(main, per) unit words of an OTLP unit: ``"By/s"`` → ``("bytes", "per_second")``."""
    main_otel, sep, per_otel = unit.partition("/")
    main = ""
    main_otel = main_otel.strip()
    if main_otel and not any(c in main_otel for c in "{}"):
        main = UNIT_WORDS.get(main_otel, main_otel)
    per = ""
    if sep and per_otel != "":
        per_otel = per_otel.strip()
        if per_otel and not any(c in per_otel for c in "{}"):
            per = PER_UNIT_WORDS.get(per_otel, per_otel)
        if per:
            per = "per_" + per
    return main, per


def _clean_unit(word: str) -> str:
    return _UNDERSCORES.sub("_", _NOT_METRIC_CHAR.sub("_", word)).removeprefix("_")


def _tokens(text: str) -> list[str]:
    return [t for t in _NOT_METRIC_CHAR.split(text) if t]


def _normalize(name: str, unit: str, kind: str, namespace: str) -> str:
    tokens = _tokens(name)
    main, per = unit_suffixes(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if kind == MONOTONIC_COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens.insert(0, namespace)
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


def _trim_suffix(name: str, suffix: str) -> str:
    if name.endswith(suffix) and len(name) > len(suffix) + 1:
        return name[: len(name) - len(suffix) - 1]
    return name


def _utf8_name(name: str, unit: str, kind: str, namespace: str, with_suffixes: bool) -> str:
    if namespace:
        name = namespace + "_" + name
    if not with_suffixes:
        return name
    tail = ""
    if unit == "1" and kind == GAUGE:
        name = _trim_suffix(name, "ratio")
        tail = "_ratio" + tail
    if kind == MONOTONIC_COUNTER:
        name = _trim_suffix(name, "total")
        tail = "_total" + tail
    main, per = unit_suffixes(unit)
    if per:
        name = _trim_suffix(name, per)
        tail = "_" + per + tail
    if main and not name.endswith(main):
        name = name + "_" + main
    return name + tail


def metric_name(name: str, unit: str, kind: str, namespace: str = "", with_suffixes: bool = True, utf8: bool = False) -> str:
    """The Prometheus name of an OTLP metric; raises ValueError when nothing usable is left."""
    if utf8:
        return _utf8_name(name, unit, kind, namespace, with_suffixes)
    if with_suffixes:
        out = _normalize(name, unit, kind, namespace)
    else:
        out = "_".join(t for t in _NOT_METRIC_CHAR_OR_UNDERSCORE.split(name) if t)
        if namespace:
            ns = "_".join(t for t in _NOT_METRIC_CHAR_OR_UNDERSCORE.split(namespace) if t)
            out = ns + "_" + out
        elif out and out[0].isdigit():
            out = "_" + out
    if not out:
        raise ValueError(f'normalization for metric "{name}" resulted in empty name')
    if out != name and set(out) == {"_"}:
        raise ValueError(f'normalization for metric "{name}" resulted in invalid name "{out}"')
    return out


def label_name(label: str, utf8: bool = False, underscore_sanitization: bool = True) -> str:
    """The Prometheus label name of an attribute key; raises ValueError when it cannot be one."""
    if not label:
        raise ValueError("label name is empty")
    if utf8:
        if set(label) == {"_"}:
            raise ValueError(f'label name "{label}" contains only underscores')
        return label
    reserved = len(label) >= 4 and label.startswith("__") and label.endswith("__")
    body = label[2:-2] if reserved else label
    out = _NOT_LABEL_CHARS.sub("_", body)
    if reserved:
        out = "__" + out + "__"
    if out[0].isdigit():
        out = "key_" + out
    elif underscore_sanitization and out.startswith("_") and not out.startswith("__"):
        out = "key" + out
    if set(out) == {"_"}:
        raise ValueError(f'normalization for label name "{label}" resulted in invalid name "{out}"')
    return out


def is_legacy_metric_name(name: str) -> bool:
    return bool(_LEGACY_METRIC_NAME.match(name))


def is_legacy_label_name(name: str) -> bool:
    return bool(_LEGACY_LABEL_NAME.match(name))


def escape_underscores(name: str) -> str:
    """Prometheus' "underscores" escaping (model.EscapeName) of a metric or label name."""
    if is_legacy_metric_name(name):
        return name
    out = []
    for i, c in enumerate(name):
        valid = ("a" <= c <= "z") or ("A" <= c <= "Z") or c in "_:" or ("0" <= c <= "9" and i > 0)
        out.append(c if valid else "_")
    return "".join(out)
